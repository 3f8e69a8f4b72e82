//! Workloads: litmus front end and kernel code paths.
pub mod litmus;
