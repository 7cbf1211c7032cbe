"""The media layer: files, arrays and frames <-> RGB float [0, 1] N x 3 x H x W tensors, and safe writes."""
