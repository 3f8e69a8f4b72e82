// isolsim protocol: deferred (the task-isolation series), in kernel C.
// @base deferred
// @expect none
//
// deferred.S written as the series writes it: task_isolation_kernel_enter(),
// task_isolation_exit_to_user_mode() and the sender's side of
// kick_all_cpus_sync() from Alex Belits' v5 (2020), with isolsim's one
// change: the entry hook's barrier is dsb(ish), not smp_mb() (see
// deferred.S; mutants/entry-dmb-not-dsb.c is the series' code). `isolsim
// check --emit-asm --protocol workloads/protocols/deferred.c` shows what
// this compiles to; the test c_protocols_match_assembler checks that it
// gives the answers deferred.S gives.

// task_isolation_kernel_enter(): a CPU that ran isolated user code marks
// itself BROKEN, then synchronizes what a skipped kick would have: data,
// instructions, and the deferred TLB flush.
static void task_isolation_kernel_enter(void)
{
	if (this_cpu_read(ll_isol_flags) == ISOL_ISOLATED) {
		this_cpu_write(ll_isol_flags, ISOL_BROKEN);
		dsb(ish);	/* the flag visible before any read of synced data and any fetch */
		instr_sync();
		if (TLB_SCHEME == TLB_DEFERRED)
			local_flush_tlb_all();	/* the deferred flush */
	}
}

// task_isolation_exit_to_user_mode(): a task that still asks for isolation is
// isolated again, after one final barrier.
static void task_isolation_exit_to_user_mode(void)
{
	unsigned long flags = this_cpu_read(ll_isol_flags);

	if (flags == ISOL_BROKEN) {
		if (!this_cpu_read(isol_wanted))
			return;
		flags = ISOL_REQUEST;
	}
	if (flags == ISOL_REQUEST) {
		this_cpu_write(ll_isol_flags, ISOL_ISOLATED);
		smp_mb();	/* the seed's "one final barrier" before user space */
	}
}

// The kernel's entry and exit: context tracking's state, then the hooks.
// enter_from_user_mode()'s return is entry_hook_done.
void enter_from_user_mode(void)
{
	this_cpu_write(context, CT_KERNEL);
	task_isolation_kernel_enter();
}

void exit_to_user_mode(void)
{
	this_cpu_write(context, CT_USER);
	task_isolation_exit_to_user_mode();
}

// The sender: smp_mb() after what its caller published, then each CPU's flag.
void isolation_publish(void)
{
	smp_mb();
}

bool isolation_defer_cpu(int cpu, unsigned long work)
{
	/* skip exactly the CPUs running isolated user code */
	return READ_ONCE(per_cpu(ll_isol_flags, cpu)) == ISOL_ISOLATED;
}

/* The callback of a kick's IPI on a CPU the sender interrupted: taking the
 * interrupt and the ERET are context synchronizing, all CT_WORK_SYNC asks; a
 * changed kernel mapping asks for the local TLB flush. */
void isolation_ipi(unsigned long work)
{
	if (work & CT_WORK_TLBI) {
		__tlbi(vmalle1);
		dsb(nsh);
		isb();
	}
}
