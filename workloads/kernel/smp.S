// isolsim kernel, part 2 of 3: the GICv3 IRQ handler and cross-CPU
// function calls, in the shape of drivers/irqchip/irq-gic-v3.c and
// kernel/smp.c (v4.14, the kernel Norov measured IPIs on). Per-CPU offsets
// and other constants are in entry.S.

        // struct __call_single_data: one cache line each.
        .equ  CSD_FLAGS, 0
        .equ  CSD_FUNC, 8
        .equ  CSD_INFO, 16
        .equ  CSD_NEXT, 24
        .equ  CSD_FLAG_LOCK, 1

        // SGI numbers (arch/arm64/kernel/smp.c: enum ipi_msg_type).
        .equ  IPI_RESCHEDULE, 0
        .equ  IPI_CALL_FUNC, 1

// ---------------------------------------------------------------------------
// gic_handle_irq(): acknowledge and handle interrupts until none is pending.
// SGIs are ended (EOI) before their handler runs, as the GICv3 driver does.
gic_handle_irq:
        SUB   SP, SP, #16
        STR   X30, [SP]
irq_next:
        MRS   X0, ICC_IAR1_EL1
        AND   X0, X0, #0xffffff          // INTID
        CMP   X0, #1020
        B.HS  irq_none                   // 1023: spurious, nothing left
        MSR   ICC_EOIR1_EL1, X0
        ISB
        CMP   X0, #IPI_CALL_FUNC
        B.NE  irq_next
        BL    flush_smp_call_function_queue
        B     irq_next
irq_none:
        LDR   X30, [SP]
        ADD   SP, SP, #16
        RET

// flush_smp_call_function_queue(): take this CPU's whole call list, run
// each call and unlock its csd, which is what a waiting sender watches.
flush_smp_call_function_queue:
        SUB   SP, SP, #32
        STR   X30, [SP]
        STR   X19, [SP, #8]
        STR   X20, [SP, #16]
        MRS   X9, TPIDR_EL1
        // llist_del_all(): xchg(&head, NULL), a fully ordered read-modify-write.
        ADD   X9, X9, #PCPU_CALL_QUEUE
        SWPAL XZR, X19, [X9]
call_next:
        CBZ   X19, calls_done
        LDR   X20, [X19, #CSD_NEXT]      // read before unlocking: the sender may reuse the csd
        LDR   X9, [X19, #CSD_FUNC]
        LDR   X0, [X19, #CSD_INFO]
call_func:
        BLR   X9                         // csd->func(csd->info)
call_func_done:
        STLR  XZR, [X19]                 // csd_unlock(): smp_store_release(&csd->flags, 0)
        MOV   X19, X20
        B     call_next
calls_done:
        LDR   X20, [SP, #16]
        LDR   X19, [SP, #8]
        LDR   X30, [SP]
        ADD   SP, SP, #32
        RET

// ---------------------------------------------------------------------------
// smp_call_function_many(X0 = list of CPU numbers, X1 = their count,
//                        X2 = func, X3 = info, X4 = wait)
// Queues func(info) on every listed CPU but this one, raises the IPIs and,
// if wait, spins until every target has run func and unlocked its csd.
smp_call_function_many:
        SUB   SP, SP, #80
        STR   X30, [SP]
        STR   X19, [SP, #8]
        STR   X20, [SP, #16]
        STR   X21, [SP, #24]
        STR   X22, [SP, #32]
        STR   X23, [SP, #40]
        STR   X24, [SP, #48]
        STR   X25, [SP, #56]
        STR   X26, [SP, #64]
        STR   X27, [SP, #72]
        MOV   X25, X0
        MOV   X26, X1
        MOV   X27, X4
        work  CALL_SETUP_WORK            // preemption off, cpumask and cfd bookkeeping
        MRS   X19, TPIDR_EL1
        SUB   X20, X19, #PERCPU_BASE
        LSR   X20, X20, #PERCPU_SHIFT    // smp_processor_id()
        LSL   X21, X20, #CFD_SHIFT
        ADD   X21, X21, #CFD_BASE        // this CPU's cfd->csd array
        ADD   X24, X19, #PCPU_IPI_LIST
        MOV   X22, #0                    // position in the target list
        MOV   X23, #0                    // CPUs to interrupt
queue_next:
        CMP   X22, X26
        B.HS  queue_done
        LDR   X9, [X25, X22, LSL #3]     // cpu
        ADD   X22, X22, #1
        CMP   X9, X20
        B.EQ  queue_next                 // never this CPU
        LSL   X10, X9, #CSD_SHIFT
        ADD   X10, X10, X21              // csd = per_cpu_ptr(cfd->csd, cpu)
csd_lock_wait:                           // csd_lock(): the previous call must be done
        LDAR  X11, [X10]
.if COND_WAIT_WFE
        CBZ   X11, csd_locked
        SEVL                             // __cmpwait(): sleep until the line changes
        WFE
        LDXR  X12, [X10]
        EOR   X12, X12, X11
        CBNZ  X12, csd_lock_wait
        WFE
        B     csd_lock_wait
csd_locked:
.else
        CBNZ  X11, csd_lock_wait
.endif
        MOV   X11, #CSD_FLAG_LOCK
        STR   X11, [X10, #CSD_FLAGS]
        DMB   ISHST                      // smp_wmb()
        STR   X2, [X10, #CSD_FUNC]
        STR   X3, [X10, #CSD_INFO]
        LSL   X12, X9, #PERCPU_SHIFT
        ADD   X12, X12, #PERCPU_BASE
        // llist_add(&csd->llist, &per_cpu(call_single_queue, cpu)): a fully
        // ordered cmpxchg loop on the target's list head (several senders may
        // add to one CPU's list at once).
        ADD   X12, X12, #PCPU_CALL_QUEUE
        LDR   X13, [X12]
llist_add_retry:
        STR   X13, [X10, #CSD_NEXT]
        MOV   X14, X13
        CASAL X14, X10, [X12]            // release: the csd's fields before it is on the list
        CMP   X14, X13
        B.EQ  llist_added
        MOV   X13, X14
        B     llist_add_retry
llist_added:
        CBNZ  X13, queue_next            // the list was not empty: an IPI is on its way
        STR   X9, [X24, X23, LSL #3]
        ADD   X23, X23, #1
        B     queue_next
queue_done:
        MOV   X0, X24
        MOV   X1, X23
        MOV   X2, #IPI_CALL_FUNC
        BL    gic_ipi_send_mask          // arch_send_call_function_ipi_mask()
        CBZ   X27, many_done
        MOV   X22, #0
wait_next:
        CMP   X22, X26
        B.HS  many_done
        LDR   X9, [X25, X22, LSL #3]
        ADD   X22, X22, #1
        CMP   X9, X20
        B.EQ  wait_next
        LSL   X10, X9, #CSD_SHIFT
        ADD   X10, X10, X21
csd_wait:                                // csd_lock_wait(): smp_cond_load_acquire()
        LDAR  X11, [X10]
.if COND_WAIT_WFE
        CBZ   X11, wait_next
        SEVL
        WFE
        LDXR  X12, [X10]
        EOR   X12, X12, X11
        CBNZ  X12, csd_wait
        WFE
        B     csd_wait
.else
        CBNZ  X11, csd_wait
        B     wait_next
.endif
many_done:
        LDR   X27, [SP, #72]
        LDR   X26, [SP, #64]
        LDR   X25, [SP, #56]
        LDR   X24, [SP, #48]
        LDR   X23, [SP, #40]
        LDR   X22, [SP, #32]
        LDR   X21, [SP, #24]
        LDR   X20, [SP, #16]
        LDR   X19, [SP, #8]
        LDR   X30, [SP]
        ADD   SP, SP, #80
        RET

// smp_call_function_single(X0 = cpu, X1 = func, X2 = info, X3 = wait):
// the same path with a one-CPU list.
smp_call_function_single:
        MRS   X9, TPIDR_EL1
        ADD   X9, X9, #PCPU_SINGLE
        STR   X0, [X9]
        MOV   X4, X3
        MOV   X3, X2
        MOV   X2, X1
        MOV   X1, #1
        MOV   X0, X9
        B     smp_call_function_many

// gic_ipi_send_mask(X0 = list of CPU numbers, X1 = count, X2 = SGI number):
// one ICC_SGI1R_EL1 write per run of listed CPUs that share a target group
// (Aff3.Aff2.Aff1 and range selector), as gic_compute_target_list() builds.
gic_ipi_send_mask:
        DSB   ISHST                      // wmb(): the queued calls before the SGIs
        LSL   X2, X2, #24                // ICC_SGI1R_EL1.INTID
        MOV   X12, #SGI_TABLE
        MOV   X9, #0
        MOV   X10, #0                    // the write being built (0: none)
sgi_next:
        CMP   X9, X1
        B.HS  sgi_flush
        LDR   X13, [X0, X9, LSL #3]
        ADD   X9, X9, #1
        LDR   X14, [X12, X13, LSL #3]    // the value that targets that CPU alone
        CBZ   X10, sgi_start
        LSR   X15, X14, #16
        LSR   X11, X10, #16
        CMP   X11, X15
        B.EQ  sgi_add
        ORR   X10, X10, X2
        MSR   ICC_SGI1R_EL1, X10
sgi_start:
        MOV   X10, X14
        B     sgi_next
sgi_add:
        ORR   X10, X10, X14
        B     sgi_next
sgi_flush:
        CBZ   X10, sgi_done
        ORR   X10, X10, X2
        MSR   ICC_SGI1R_EL1, X10
sgi_done:
        ISB
        RET

// smp_processor_id() in X0.
smp_processor_id:
        MRS   X0, TPIDR_EL1
        SUB   X0, X0, #PERCPU_BASE
        LSR   X0, X0, #PERCPU_SHIFT
        RET

// A call that does nothing (the IPI benchmark's handler with info = NULL).
ipi_nop:
        RET
