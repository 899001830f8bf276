//! The memory budgets of issue 15, as `synack bench conns` measures them: an idle
//! established connection ≤ 1,024 bytes of heap, a compact TIME-WAIT entry ≤ 128 bytes.
//!
//! A test binary of its own, so its counting allocator sees no other test's allocations.

use synack_bench::alloc::CountingAlloc;

#[global_allocator]
static COUNTING: CountingAlloc = CountingAlloc;

#[test]
fn an_idle_connection_and_a_time_wait_entry_stay_within_their_budgets() {
    // Just under a power of two, as a million is (2^20 = 1,048,576): the tables' spare room
    // per connection is then about what it is at a million.
    let (established, time_wait) = synack_bench::conns_memory(16_000).expect("measured");
    let established = established.expect("the counting allocator is installed");
    let time_wait = time_wait.expect("the counting allocator is installed");
    // Far below these, the measurement itself would be broken (a connection holds its
    // ~900-byte slot, an entry its tuple and sequence numbers).
    assert!(established > 512.0, "{established} B per connection");
    assert!(time_wait > 64.0, "{time_wait} B per TIME-WAIT entry");
    assert!(established <= 1024.0, "{established} B per idle connection");
    assert!(time_wait <= 128.0, "{time_wait} B per TIME-WAIT entry");
}
