//! Benchmark harness (placeholder until written).
fn main() {}
