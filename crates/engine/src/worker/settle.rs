//! Recording handed-over messages as sent, many at once (issue 22).
//!
//! A worker runs up to [`Engine::with_concurrency`] deliveries side by side. Each one that
//! the server or provider accepted still has to be recorded — its message `sent`, its job
//! finished — and doing that in a transaction of its own cost a commit (a disk flush) and
//! three statements per message. Here the lanes share the commit: a lane queues its message
//! and waits for the flush lock; whoever holds it records everything queued so far in one
//! transaction ([`Tx::settle_handed`]), while the next group gathers behind it. Nothing is
//! decided differently: a message is `sent` only once its transaction commits, a lost
//! lease leaves the message to the worker that holds the job now, and a failed flush
//! leaves every message of the group `sending` for its job's retry, as a failed single
//! settle would.

use std::sync::Mutex;

use aftercare_store::{Handed, MessageId};
use tokio::sync::oneshot;

use super::*;

/// A handed-over message waiting for its group's commit, and where its lane hears the
/// outcome (`Ok(false)`: the lease was lost).
type Waiting = (Handed, oneshot::Sender<Result<bool, String>>);

/// The lanes' queue of handed-over messages, and the lock of the one flush at a time.
#[derive(Debug, Default)]
pub(crate) struct Settles {
    queue: Mutex<Vec<Waiting>>,
    flushing: tokio::sync::Mutex<()>,
}

impl Engine {
    /// Records that `message` (of `job`) was handed over, together with whatever other
    /// lanes handed over meanwhile; `Ok(false)` when the job's lease was lost.
    pub(super) async fn settle_accepted(
        &self,
        job: &Job,
        message: MessageId,
        reason: String,
    ) -> Result<bool, EngineError> {
        let (done, outcome) = oneshot::channel();
        let handed = Handed {
            job_id: job.id,
            message_id: message,
            reason,
        };
        self.settles
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((handed, done));
        {
            let _turn = self.settles.flushing.lock().await;
            let group = std::mem::take(
                &mut *self
                    .settles
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            // An earlier flush may have taken this lane's message already.
            if !group.is_empty() {
                self.flush_settles(group).await;
            }
        }
        match outcome.await {
            Ok(Ok(held)) => Ok(held),
            Ok(Err(e)) => Err(EngineError::Settle(e)),
            Err(_) => Err(EngineError::Settle(
                "the group was dropped unanswered".into(),
            )),
        }
    }

    async fn flush_settles(&self, group: Vec<Waiting>) {
        let (handed, answers): (Vec<Handed>, Vec<_>) = group.into_iter().unzip();
        let now = self.clock.now();
        let result = async {
            let mut tx = self.store.begin().await?;
            let sent = tx.settle_handed(&self.worker_id, &handed, now).await?;
            tx.commit().await?;
            Ok::<_, aftercare_store::StoreError>(sent)
        }
        .await;
        match result {
            Ok(sent) => {
                let sent: HashSet<MessageId> = sent.into_iter().collect();
                for (h, answer) in handed.iter().zip(answers) {
                    let held = sent.contains(&h.message_id);
                    if held {
                        debug!(message_id = %h.message_id, "Message settled.");
                    } else {
                        warn!(
                            job_id = i64::from(h.job_id),
                            "Lost the lease on a job; another worker has it."
                        );
                    }
                    let _ = answer.send(Ok(held));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}
