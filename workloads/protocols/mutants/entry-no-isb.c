// Mutant of deferred.c: the entry hook without instr_sync(), and with the
// deferred TLB flush reduced to its TLBI and DSB (its trailing ISB would
// otherwise synchronize the instruction stream just the same; entry-no-isb.S in C).
// @base deferred
// @expect safety-violation
// @why Instructions the CPU fetched after its exception entry but before the
// @why sender patched them (IC IVAU, DSB) stay in its pipeline: after a skip,
// @why nothing discards them, and the CPU executes the old instruction.
// The functions it does not define come from deferred.S.

// enter_from_user_mode(): context tracking says "in the kernel", then
// task_isolation_kernel_enter().
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		dsb(ish);
		if (TLB_SCHEME == TLB_DEFERRED) {
			__tlbi(vmalle1);
			dsb(nsh);
		}
	}
}
