/*
 * procedural_agent.h — what the server-side files share: settings and the
 * few cross-file entry points. Plain-C cores (jsonschema, regex_ecma) do not
 * include this header.
 */
#ifndef PROCEDURAL_AGENT_H
#define PROCEDURAL_AGENT_H

/* guc.c */
extern int	pa_max_validation_errors;
extern int	pa_schema_cache_entries;
extern void pa_define_settings(void);

/* procedural_agent.c */
extern bool pa_loaded_at_startup;
extern void pa_require_preload(const char *feature);

#endif							/* PROCEDURAL_AGENT_H */
