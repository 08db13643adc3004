"""Neural-network building blocks shared by the deep agents: torch networks, flat parameter
buffers, the numpy MLP forward pass, gradient clipping and the non-finite-loss check."""
