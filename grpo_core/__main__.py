"""`python -m grpo_core ...` is the `grpo` command; torchrun starts ranks as `torchrun ... -m grpo_core train`."""
import sys

from .cli import main

sys.exit(main())
