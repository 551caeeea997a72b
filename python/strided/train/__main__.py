"""`python -m strided.train`: the strided-train command (see strided.train.cli)."""
import sys

from .cli import main

sys.exit(main())
