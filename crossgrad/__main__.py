import sys

from crossgrad.cli import main

sys.exit(main())
