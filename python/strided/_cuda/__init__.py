"""The pieces of the GPU backend that every op family builds on and that need neither CuPy nor a GPU:
the CUDA sources and their tile constants (sources.py), and the Launch/Plan records with the runner that
executes them (launch.py). strided.cuda composes the families' launchers on top."""
