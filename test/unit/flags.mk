# Compiler flags shared by the standalone builds of the plain-C cores
# (test/unit/Makefile*, test/conformance/Makefile). Include after SRC is set.

JANSSON_CFLAGS := $(shell pkg-config --cflags jansson)
JANSSON_LIBS   := $(shell pkg-config --libs jansson)

# PostgreSQL's PGXS warning flags, made fatal
PG_CFLAGS := -std=gnu99 -Wall -Wmissing-prototypes -Wpointer-arith \
             -Wdeclaration-after-statement -Werror=vla -Wendif-labels \
             -Wmissing-format-attribute -Wimplicit-fallthrough=3 \
             -Wcast-function-type -Wformat-security -fno-strict-aliasing \
             -fwrapv -O2 -Werror
# AddressSanitizer + UndefinedBehaviorSanitizer (clang from Debian)
SAN_CFLAGS := -std=gnu99 -g -O1 -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Werror

CPPFLAGS = -I$(SRC) $(JANSSON_CFLAGS)
