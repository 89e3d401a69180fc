"""What a person looks at after a run: pictures of each finished shot, written beside its mattes into
`OUT/review/`, and the report of a whole batch, so a supervisor sees which shots and frames need an artist
without opening them in Blender.

- `shot_review`: `write_review`, the entry point, and the `ShotReview` it returns;
- `shot_results`: what a finished output folder holds (confidence table, label maps, mattes), read and checked;
- `overlay`: a plate with each object's matte drawn over it in its label-map colour;
- `captions`: the frame name and confidence written under or over a picture;
- `contact_sheet`, `confidence_plot`, `preview_movie`: one picture each;
- `extras`: the optional packages (`pip install 'maskprop[review]'`) the plot and the movie need;
- `batch_report`, `report_html`: `report.html`, one row per shot of a job, gathered from the shots' folders.
"""

from __future__ import annotations

from engine.review.extras import MissingExtra
from engine.review.shot_review import ShotReview, write_review

__all__ = ["MissingExtra", "ShotReview", "write_review"]
