//! Exact-segment tests: for each state, the segments that matter there, asserting the exact
//! segment sent back and the resulting state (RFC 9293 §3.10, RFC 5961). The last test replays
//! them all and proves every row of the transition table was exercised.

#[path = "../common/mod.rs"]
mod common;

mod close;
mod established;
mod open;
mod options;

use synack_proto::TRANSITIONS;

use common::SEEN;

type Scenario = (&'static str, fn());

/// Each scenario once as a test of its own, and all of them in `ALL` for the replay below.
macro_rules! scenarios {
    ($($module:ident: [$($name:ident),* $(,)?])*) => {
        const ALL: &[Scenario] = &[$($((stringify!($name), $module::$name)),*),*];
        mod each {
            $($( #[test] fn $name() { super::$module::$name(); } )*)*
        }
    };
}

scenarios! {
    open: [
        closed_answers_with_reset,
        listen_ignores_rst_and_resets_ack,
        listen_syn_gets_syn_ack,
        listen_close_and_abort,
        cookie_ack_establishes_straight_from_listen,
        syn_sent_sends_syn_with_all_options,
        syn_sent_rst_with_good_ack_is_refused,
        syn_sent_rst_without_ack_is_ignored,
        syn_sent_bad_ack_gets_reset,
        syn_sent_syn_ack_establishes,
        syn_ack_carrying_data_and_fin,
        syn_sent_shutdown_sends_data_and_fin_after_handshake,
        syn_sent_close_and_abort,
        syn_retransmits_at_1_3_7_15_31_63_and_fails_at_127,
        syn_received_ack_establishes,
        syn_received_bad_ack_gets_reset,
        syn_received_rst_returns_to_listen,
        syn_received_new_syn_returns_to_listen,
        syn_received_repeated_syn_gets_syn_ack_again,
        syn_ack_retransmits_then_listen_again,
        syn_received_abort_sends_reset,
        syn_received_close_sends_fin_once_established,
        simultaneous_open,
        simultaneous_open_reset_is_refused,
        simultaneous_open_peer_vanishes,
    ]
    established: [
        established_data_is_acked_and_readable,
        established_old_duplicate_is_reacked_not_redelivered,
        established_future_data_gets_duplicate_ack,
        established_out_of_window_gets_ack,
        established_rst_exact_resets,
        established_rst_in_window_gets_challenge_ack,
        established_rst_out_of_window_is_dropped,
        established_syn_gets_challenge_ack,
        challenge_acks_are_rate_limited,
        established_ack_of_unsent_data_is_dropped_with_ack,
        established_ack_too_old_gets_challenge_ack,
        established_segment_without_ack_is_dropped,
        established_send_respects_peer_window,
        nodelay_sends_the_tail_at_once,
        a_blocked_writers_tail_waits_behind_two_full_segments,
        nagle_classic_and_minshall,
        out_of_window_bare_acks_are_answered_at_most_every_500ms,
        bare_acks_carry_the_highest_sequence_sent_after_a_timeout,
        keepalive_probes_an_idle_connection_and_a_reply_keeps_it,
        keepalive_gives_up_on_a_silent_peer,
        keepalive_is_off_by_default,
        user_timeout_gives_up_on_unacknowledged_data,
        zero_window_is_probed_and_survives,
        unanswered_zero_window_probes_give_up,
        established_fin_goes_to_close_wait,
        established_out_of_order_fin_waits,
        established_abort_sends_reset,
        data_retransmits_with_backoff_then_times_out,
        close_with_unread_data_sends_reset,
        send_after_shutdown_is_an_error,
    ]
    close: [
        fin_wait_1_ack_of_fin_goes_to_fin_wait_2,
        fin_wait_1_fin_goes_to_closing_then_time_wait,
        fin_wait_1_fin_ack_goes_through_fin_wait_2_to_time_wait,
        fin_wait_2_receives_data_after_half_close,
        fin_retransmits_then_times_out,
        fin_wait_1_rst_and_abort,
        data_after_close_gets_reset,
        fin_wait_2_times_out_after_close,
        fin_wait_2_rst_and_abort,
        close_wait_can_still_send_then_last_ack,
        close_wait_rst_timeout_abort,
        last_ack_rst_timeout_abort,
        closing_rst_timeout_abort,
        time_wait_lasts_2msl,
        time_wait_reacks_retransmitted_fin_and_restarts,
        time_wait_other_segments,
    ]
    options: [
        options_negotiated_only_when_both_offer,
        window_scale_applies_after_the_handshake,
        paws_drops_old_timestamps,
    ]
}

/// Replays every scenario and checks that together they walk every edge of the table (and
/// none outside it).
#[test]
fn every_transition_row_is_exercised() {
    SEEN.with(|s| s.borrow_mut().clear());
    for (_, f) in ALL {
        f();
    }
    let seen = SEEN.with(|s| s.borrow().clone());
    let missing: Vec<_> = TRANSITIONS.iter().filter(|t| !seen.contains(t)).collect();
    let extra: Vec<_> = seen.iter().filter(|t| !TRANSITIONS.contains(t)).collect();
    assert!(missing.is_empty(), "rows never exercised: {missing:#?}");
    assert!(
        extra.is_empty(),
        "transitions outside the table: {extra:#?}"
    );
}
