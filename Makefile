# procedural_agent — PGXS build.
#
#   make && make install        build and install into the PostgreSQL found by PG_CONFIG
#   make installcheck           pg_regress suite (sql/ + expected/) against a running server
#   ./test/run                  everything (installs packages, builds, starts servers, all tests)

EXTENSION    = procedural_agent
MODULE_big   = procedural_agent
EXTVERSION   = 0.1.0

OBJS = \
	src/procedural_agent.o \
	src/guc.o \
	src/owner_call.o \
	src/condition.o \
	src/context.o \
	src/jsonb_jansson.o \
	src/schema_sql.o \
	src/jsonschema.o \
	src/jsonschema_compile.o \
	src/jsonschema_resolve.o \
	src/jsonschema_uri.o \
	src/jsonschema_validate.o \
	src/regex_ecma.o \
	src/regex_ecma_charset.o \
	src/regex_ecma_unicode.o \
	src/pa_buf.o \
	src/http.o \
	src/http_loop.o \
	src/retry.o \
	src/sql.o \
	src/agent.o \
	src/json_dump.o \
	src/model.o \
	src/provider_openai.o \
	src/provider_anthropic.o \
	src/provider_test.o \
	src/schema_example.o \
	src/transcript.o \
	src/prompt.o \
	src/tools.o \
	src/ledger.o \
	src/ledger_new.o \
	src/run_compiled.o \
	src/run_setup.o \
	src/builtin_tools.o \
	src/model_call.o \
	src/run.o \
	src/invoke.o \
	src/progress.o \
	src/launcher.o \
	src/worker.o \
	src/worker_task.o \
	src/deliveries.o \
	src/sse.o \
	src/stream_openai.o \
	src/stream_anthropic.o

# The install script is assembled from sql/install/*.sql (one concern per
# file); upgrade scripts sql/$(EXTENSION)--A--B.sql are shipped as they are.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard sql/$(EXTENSION)--*--*.sql)
EXTRA_CLEAN = $(DATA_built)

REGRESS      = setup validate definitions secrets bad_input test_provider
# Results and diffs go under test/regress_output/, not the top level.
REGRESS_OPTS = --outputdir=test/regress_output

PG_CONFIG ?= pg_config
PG_CPPFLAGS += -I$(srcdir)/src $(shell pkg-config --cflags libcurl jansson)
SHLIB_LINK  += $(shell pkg-config --libs libcurl jansson)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# After PGXS, so that 'all' stays the default target.
sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# PGXS tracks no header dependencies: rebuild every object when a header changes.
$(OBJS): $(wildcard src/*.h)
