#!/bin/sh
# Resume run1 (2 x 384, the float phase of models/broad.npz): see resume.sh.
exec sh "$(dirname "$0")/resume.sh" run1
