"""What a person looks at after a run: reports and pictures that say which shots and frames need a look."""
