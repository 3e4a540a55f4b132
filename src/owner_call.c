/*
 * owner_call.c — run a definition function with the extension owner's
 * rights while knowing, for certain, who called it.
 *
 * The definition API (pa_create_agent, pa_create_tool, ...) writes tables
 * that ordinary roles may only read, and it must record the calling role
 * as the owner of what it creates. A SECURITY DEFINER function cannot do
 * both: inside it, current_user is the definer and the caller is lost.
 *
 * So each public API function is declared LANGUAGE C, SECURITY INVOKER,
 * bound to pa_owner_call(). It reads the caller's role (GetUserId()),
 * switches to the extension owner the same way fmgr's SECURITY DEFINER
 * path does, and calls its implementation pa._<name>(caller regrole,
 * <the same arguments>), whose EXECUTE is revoked from PUBLIC. The caller
 * cannot forge the first argument, because the caller cannot call the
 * implementation at all.
 *
 * On error, transaction (or subtransaction) abort restores the user id and
 * security context, exactly as for SECURITY DEFINER functions.
 */
#include "pg_prelude.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "parser/parse_func.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "storage/proc.h"

#include "procedural_agent.h"

/* What one call site caches in fn_extra: the implementation's fmgr info. */
typedef struct OwnerCallCache
{
	FmgrInfo	impl;
	Oid			owner;
} OwnerCallCache;

/* The caller's search_path while an implementation runs (see below). */
static char *caller_search_path = NULL;

/*
 * The extension's owner, looked up once per transaction (the worker runs
 * many statements in one; the owner cannot change under a transaction
 * that has read it without a lock conflict worth caring about), or, in
 * the worker, once per turn of its loop (pa_extension_owner_forget): it
 * runs several transactions a turn, and each lookup is an index scan of
 * pg_extension (a few per cent of a run when every transaction paid it).
 */
static LocalTransactionId owner_lxid = InvalidLocalTransactionId;
static bool owner_pinned = false;	/* valid until forgotten, whatever the transaction */
static Oid	owner_oid = InvalidOid;

Oid
pa_extension_owner(void)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	if (OidIsValid(owner_oid) &&
		(owner_pinned || (owner_lxid == MyProc->lxid && owner_lxid != InvalidLocalTransactionId)))
		return owner_oid;
	/* one scan by name: the row has the owner */
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("procedural_agent"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"procedural_agent\" does not exist")));
	owner_oid = owner;
	owner_lxid = MyProc->lxid;
	return owner;
}

/*
 * The worker, at the top of each turn of its loop: look the owner up again
 * at its next use, then keep it for the rest of the turn (pin true) or
 * only for that transaction (pin false, what backends do).
 */
void
pa_extension_owner_forget(bool pin)
{
	owner_oid = InvalidOid;
	owner_pinned = pin;
}

/*
 * Find pa._<proname>(regrole, <argtypes of the public function>).
 */
static Oid
implementation_of(Oid public_fn)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	Oid		   *argtypes;
	int			nargs;
	char	   *implname;
	Oid			impl;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(public_fn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", public_fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	nargs = proc->pronargs;
	argtypes = palloc((nargs + 1) * sizeof(Oid));
	argtypes[0] = REGROLEOID;
	memcpy(argtypes + 1, proc->proargtypes.values, nargs * sizeof(Oid));
	implname = psprintf("_%s", NameStr(proc->proname));
	ReleaseSysCache(tup);

	impl = LookupFuncName(list_make2(makeString("pa"), makeString(implname)),
						  nargs + 1, argtypes, true);
	if (!OidIsValid(impl))
		elog(ERROR, "implementation pa.%s of function %u is missing", implname, public_fn);
	return impl;
}

PG_FUNCTION_INFO_V1(pa_owner_call);

Datum
pa_owner_call(PG_FUNCTION_ARGS)
{
	OwnerCallCache *cache = (OwnerCallCache *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(implcall, FUNC_MAX_ARGS);
	Oid			caller = GetUserId();
	Oid			save_userid;
	int			save_sec_context;
	char	   *save_search_path = caller_search_path;
	Datum		result;
	int			i;

	if (fcinfo->nargs + 1 > FUNC_MAX_ARGS)
		elog(ERROR, "too many arguments for pa_owner_call");

	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(OwnerCallCache));
		fmgr_info_cxt(implementation_of(fcinfo->flinfo->fn_oid), &cache->impl,
					  fcinfo->flinfo->fn_mcxt);
		cache->owner = pa_extension_owner();
		fcinfo->flinfo->fn_extra = cache;
	}

	InitFunctionCallInfoData(*implcall, &cache->impl, fcinfo->nargs + 1,
							 fcinfo->fncollation, fcinfo->context, NULL);
	implcall->args[0].value = ObjectIdGetDatum(caller);
	implcall->args[0].isnull = false;
	for (i = 0; i < fcinfo->nargs; i++)
		implcall->args[i + 1] = fcinfo->args[i];

	/*
	 * Keep the caller's search_path: implementations pin their own, but
	 * resolve user-supplied relation names the way the caller would.
	 */
	caller_search_path = pstrdup(GetConfigOption("search_path", false, false));

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(cache->owner,
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	/* The user id is restored by abort on error; the pointer is ours. */
	PG_TRY();
	{
		result = FunctionCallInvoke(implcall);
	}
	PG_FINALLY();
	{
		caller_search_path = save_search_path;
	}
	PG_END_TRY();

	SetUserIdAndSecContext(save_userid, save_sec_context);

	fcinfo->isnull = implcall->isnull;
	return result;
}

PG_FUNCTION_INFO_V1(pa_caller_search_path);

/*
 * pa._caller_search_path() — the search_path of the role that called the
 * running API function, for implementations that resolve names given by
 * the caller. NULL outside such a call.
 */
Datum
pa_caller_search_path(PG_FUNCTION_ARGS)
{
	if (caller_search_path == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(caller_search_path));
}

void
pa_become_role(Oid role, bool restricted, PaRoleSwitch *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(role, save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
}

void
pa_restore_role(const PaRoleSwitch *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
}
