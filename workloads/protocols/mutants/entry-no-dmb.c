// Mutant of deferred.c: the entry hook without its barrier (entry-no-dmb.S in C).
// @base deferred
// @expect safety-violation
// @why The BROKEN store may still sit in the store buffer while the CPU's
// @why later kernel loads read memory: a sender that published new data and
// @why then read the flag still sees ISOLATED and skips the CPU, which reads
// @why the old data (the store-buffering shape of case 2).
// The functions it does not define come from deferred.S.

// enter_from_user_mode(): context tracking says "in the kernel", then
// task_isolation_kernel_enter().
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		instr_sync();
		if (TLB_SCHEME == TLB_DEFERRED)
			local_flush_tlb_all();
	}
}
