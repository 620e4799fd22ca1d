#!/bin/sh
echo "coverage is not supported in psd's offline build" >&2
exit 1
