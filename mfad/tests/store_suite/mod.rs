//! The conformance suite's frame: a fresh store per case, a runtime to run
//! it on, and the macro that makes one `#[test]` per case for a backend.
//! The cases themselves are in one file per theme.

pub mod admin;
pub mod attempts;
pub mod enrollment;
pub mod fixtures;
pub mod methods;
pub mod phone;
pub mod push;
pub mod recovery;
pub mod transfer;

use mfad::store::Store;
use std::future::Future;
use std::sync::Arc;

pub type Res = Result<(), Box<dyn std::error::Error>>;

/// A fresh, empty store, and what must outlive it (a temporary
/// directory, a database to drop).
pub struct Fresh<S> {
    // Dropped before the guard (fields drop in order).
    pub store: Arc<S>,
    _guard: Box<dyn std::any::Any>,
}

impl<S: Store> Fresh<S> {
    pub fn new(store: S, guard: impl std::any::Any) -> Fresh<S> {
        Fresh {
            store: Arc::new(store),
            _guard: Box::new(guard),
        }
    }
}

/// Run one case on a fresh store from `make`, on a multi-threaded runtime
/// (so that the concurrency cases really are concurrent).
pub fn run<S, M, C>(make: impl FnOnce() -> M, case: impl FnOnce(Arc<S>) -> C) -> Res
where
    S: Store,
    M: Future<Output = Result<Fresh<S>, Box<dyn std::error::Error>>>,
    C: Future<Output = Res>,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fresh = make().await?;
        let result = case(fresh.store.clone()).await;
        drop(fresh);
        result
    })
}

/// One module per theme, one `#[test]` per case.
macro_rules! cases {
    ($backend:ident, $make:ident, $($theme:ident { $($case:ident),* $(,)? })*) => {
        mod $backend {
            $(mod $theme {
                $(#[test]
                fn $case() -> $crate::store_suite::Res {
                    $crate::store_suite::run(
                        super::super::$make,
                        $crate::store_suite::$theme::$case,
                    )
                })*
            })*
        }
    };
}
pub(crate) use cases;

/// The whole suite for one backend: `conformance!(name, make)`.
macro_rules! conformance {
    ($backend:ident, $make:ident) => {
        $crate::store_suite::cases!($backend, $make,
            attempts {
                an_unknown_account_is_not_enrolled,
                a_step_at_or_below_the_last_is_refused_and_undoes_the_attempt,
                concurrent_attempts_are_serialized_and_a_failing_one_is_undone_alone,
                counters_and_last_login_are_kept_and_unlock_clears_them,
                host_failures_count_accounts_and_a_success_clears_its_own,
            }
            enrollment {
                a_pending_enrollment_is_replaced_and_read_back,
                a_first_confirmation_makes_the_account,
                a_confirmation_that_raced_with_another_change_does_not_apply,
                a_replacing_confirmation_starts_the_account_over,
                concurrent_confirmations_of_one_pending_apply_once,
                recovery_codes_are_replaced_only_on_the_expected_account,
            }
            recovery {
                a_recovery_code_is_used_once,
                one_recovery_code_raced_by_16_attempts_works_once,
                a_bypass_is_one_temporary_code_not_counted_as_recovery,
            }
            methods {
                authenticators_are_added_by_name_each_with_its_own_step,
                methods_are_renamed_and_preferred_by_name,
                the_last_way_in_is_kept_across_kinds,
                concurrent_removals_of_the_last_two_leave_one,
            }
            push {
                a_push_is_delivered_and_decided_once,
                fatigue_and_blocks_hold_new_pushes,
                concurrent_pushes_under_fatigue_open_exactly_the_limit,
                concurrent_decisions_on_one_push_apply_once,
                an_approved_test_push_saves_its_target,
                pending_pushes_are_an_account_s_live_login_pushes,
                ending_and_cancelling_touch_only_pending_pushes,
            }
            phone {
                a_login_code_is_loaded_only_while_live_and_for_its_account,
                a_login_code_is_used_once_and_burned_after_max_tries,
                sends_are_limited_per_account_and_per_number,
                concurrent_sends_beyond_the_limit_queue_exactly_the_limit,
                codes_are_handed_to_the_gateway_once,
                confirm_phone_creates_the_account_once,
                concurrent_confirmations_of_one_code_apply_once,
            }
            transfer {
                an_imported_account_is_whole_and_a_second_import_copies_nothing,
                a_different_enrollment_is_left_as_it_is,
            }
            admin {
                ping_answers,
                list_pages_through_accounts_in_name_order,
                key_check_round_trips,
                summary_of_an_unknown_account_is_none,
                remove_forgets_everything_about_an_account,
                prune_forgets_only_what_no_longer_matters,
            }
        );
    };
}
pub(crate) use conformance;
