"""What training and a shot's adaptation share: clips, their augmentations, the loss, one clip through the
network; and the adaptation itself, which fine-tunes a copy of the network on a shot's keyframes."""
