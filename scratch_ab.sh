#!/bin/bash
# usage: scratch_ab.sh [filter] ; alternates base and current, 3 rounds each
cd /work/wt-c
for r in 1 2 3; do
  echo "== base"; PYTHONPATH=/tmp/wtc_base NUMBA_CACHE_DIR=/tmp/wtc_base/.nc /work/main/.venv/bin/python scratch_time.py 1 $1
  echo "== new";  PYTHONPATH=$PWD NUMBA_CACHE_DIR=$PWD/.numba-cache /work/main/.venv/bin/python scratch_time.py 1 $1
done
