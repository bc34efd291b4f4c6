#!/bin/sh
# Resume run3 (2 x 256, the -6 candidate; started by start-run3.sh): see resume.sh.
exec sh "$(dirname "$0")/resume.sh" run3
