import sys

from keras_lyapunov.cli import main

sys.exit(main())
