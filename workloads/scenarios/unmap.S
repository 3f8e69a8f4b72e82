// unmap: CPU 0 unmaps `buf` while CPU 1 reads it. Scenario and commands: unmap.toml.
// Results (8-byte cells from `results`):
        .equ  AFTER, 0          // what CPU 1's load after the flag returned (if it did not fault)
        .equ  LOADS, 8          // loads from buf in CPU 1's polling loop
        .equ  FAULT_FAR, 16     // the faulting VA, if CPU 1 took an abort
        .equ  FAULT_ESR, 24     // its syndrome (class 0x25: data abort from EL1)
        .equ  FAULT_ELR, 32     // the faulting instruction

// CPU 1's exception vectors (VBAR_EL1 needs 2 KiB alignment: the program starts on a page).
fault_vectors:
        .org  0x200             // current EL with SP_EL1, synchronous
        B     on_fault
        .org  0x800

// CPU 0: clear the descriptor, then (TLBI = 1) invalidate every CPU's TLB entry and wait.
unmapper:
        work  UNMAP_DELAY
        MOV   X19, #buf_pte
        STR   XZR, [X19]        // pte_clear()
        DSB   ISH               // the descriptor store before the invalidation
        MOV   X9, #TLBI
        CBZ   X9, signal
        MOV   X1, #buf >> 12    // __TLBI_VADDR(buf, ASID 0)
        TLBI  VAE1IS, X1        // broadcast to every CPU
        DSB   ISH               // until every TLB has dropped the entry
signal:
        MOV   X9, #flag
        MOV   X10, #1
        STR   X10, [X9]
        B     the_end

// CPU 1: load from buf until the flag is set, then once more.
reader:
        ADR   X0, fault_vectors
        MSR   VBAR_EL1, X0
        ISB
        MOV   X20, #buf
        MOV   X21, #flag
        MOV   X22, #results
        MOV   X19, #0
poll:
        LDR   X2, [X20]
        ADD   X19, X19, #1
        LDR   X3, [X21]
        CBZ   X3, poll
        LDR   X4, [X20]         // the first access after the unmap completed
        STR   X4, [X22, #AFTER]
        B     reader_out

// A synchronous exception (the abort on buf): record it and end CPU 1 (no ERET).
on_fault:
        MRS   X0, FAR_EL1
        MRS   X1, ESR_EL1
        MRS   X2, ELR_EL1
        STR   X0, [X22, #FAULT_FAR]
        STR   X1, [X22, #FAULT_ESR]
        STR   X2, [X22, #FAULT_ELR]
reader_out:
        STR   X19, [X22, #LOADS]
        B     the_end

the_end:                        // both CPUs end by running off the program
