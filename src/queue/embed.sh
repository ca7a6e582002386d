#!/bin/sh
# embed.sh -- writes the function library (sqlvault.lua) as a C string.
#
#   sh embed.sh IN.lua OUT.c
#
# The build runs it (CMakeLists.txt, add_custom_command) whenever sqlvault.lua
# changes; the output lives in the build tree and is never committed.
set -eu
in="$1"
out="$2"
tmp="$out.tmp"
{
  echo "/* script_lua.c -- GENERATED at build time by src/queue/embed.sh from"
  echo " * src/queue/sqlvault.lua: do not edit."
  echo " *"
  echo " * The Redis Function library that implements the job protocol, embedded"
  echo " * so the worker and the CLI can FUNCTION LOAD it. */"
  echo "#include \"queue.h\""
  echo ""
  echo "/* The library source, byte for byte. */"
  echo "const char queue_script_lua[] ="
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' "$in"
  echo "    ;"
} > "$tmp"
mv "$tmp" "$out"
