// patch-text: CPU 0 patches `site`, which CPU 1 executes in a loop. Scenario and commands:
// patch-text.toml. Data: counts + 0: iterations that saw the old instruction, + 8: the new one,
// + 16: the first iteration that saw the new one, + 24: CPU 1's progress.

        .equ  OLD_COUNT, 0
        .equ  NEW_COUNT, 8
        .equ  FIRST_NEW, 16
        .equ  PROGRESS, 24

// CPU 0: aarch64_insn_patch_text(), then kick_all_cpus_sync() reduced to the one CPU that runs
// the code.
patcher:
        work  PATCH_DELAY               // CPU 1 runs the old code meanwhile
        ADR   X19, site
        MOV   W1, #NEW_INSN
        STR   W1, [X19]                 // the patch
        MOV   X9, #SYNC
        CBZ   X9, patched               // SYNC = 0: nothing else
        DC    CVAU, X19                 // the new encoding to the point of unification
        DSB   ISH
        IC    IVAU, X19                 // drop every CPU's I-cache copy of the line
        DSB   ISH
        ISB
        MOV   X0, #1                    // smp_call_function_single(1, ipi_nop, NULL, 1)
        MOV   X1, #ipi_nop
        MOV   X2, #0
        MOV   X3, #1
        BL    smp_call_function_single
        MOV   X9, #counts
        LDR   X10, [X9, #PROGRESS]
        MOV   X9, #kicked_at
        STR   X10, [X9]
patched:
        B     done

// CPU 1: ITERATIONS times, execute the patchable site and log what it produced.
looper:
        MOV   X19, #0                   // iteration
        MOV   X20, #log
        MOV   X21, #0                   // old count
        MOV   X22, #0                   // new count
        MOV   X23, #ITERATIONS          // first new iteration (none yet)
        MOV   X24, #counts
loop:
site:   MOV   X0, #1                    // patched to MOV X0, #2
        STR   X0, [X20, X19, LSL #3]
        CMP   X0, #1
        B.EQ  old
        ADD   X22, X22, #1
        CMP   X23, #ITERATIONS
        B.NE  next
        MOV   X23, X19
        B     next
old:    ADD   X21, X21, #1
next:   ADD   X19, X19, #1
        STR   X19, [X24, #PROGRESS]
        work  LOOP_WORK
        CMP   X19, #ITERATIONS
        B.LO  loop
        STR   X21, [X24, #OLD_COUNT]
        STR   X22, [X24, #NEW_COUNT]
        STR   X23, [X24, #FIRST_NEW]
        B     done

done:                                   // both CPUs end by running off the program
