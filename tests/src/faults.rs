//! A fault-injecting network between sync clients and an in-process hub.
//!
//! [`Network`] holds what is "in flight" across all devices: requests delayed to be delivered
//! later (after later requests, possibly other devices'), and every push body ever delivered
//! (to replay one later). [`Faulty`] is one device's [`Transport`] through that network: from a
//! seeded [`Rng`] it drops, duplicates, delays/reorders and truncates requests and responses,
//! delays requests in time (the hub's clock runs ahead while it handles them), and can "kill
//! the client" at a chosen request: it copies the store's directory byte for byte at that
//! instant (the disk image a crash would leave) and fails every request from then on.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;

use outreach_core::sync::{Transport, TransportError};
use outreach_proto::auth::SignedRequest;
use outreach_proto::messages::{paths, PushRequest, PushResponse, PushStatus, PushedChunk, PushedDocKey};

use crate::hubsim::{copy_dir, InProcHub, Rng};

/// Counts of each fault injected, by name.
pub type FaultCounts = BTreeMap<&'static str, u64>;

/// The shared network: a hub, requests in flight, and what was injected.
pub struct Network<'h> {
    /// The hub every request ends at.
    pub hub: &'h InProcHub,
    delayed: RefCell<Vec<(String, Vec<u8>)>>,
    pushes: RefCell<Vec<Vec<u8>>>,
    /// How many of each fault were injected.
    pub counts: RefCell<FaultCounts>,
}

impl<'h> Network<'h> {
    /// An idle network to `hub`.
    pub fn new(hub: &'h InProcHub) -> Self {
        Network { hub, delayed: RefCell::default(), pushes: RefCell::default(), counts: RefCell::default() }
    }

    /// Counts one injected fault.
    pub fn count(&self, what: &'static str) {
        *self.counts.borrow_mut().entry(what).or_default() += 1;
    }

    /// Delivers a request to the hub now.
    pub fn deliver(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let r = self.hub.call(path, body);
        if path == paths::PUSH && r.0 == 200 {
            self.pushes.borrow_mut().push(body.to_vec());
        }
        r
    }

    /// Requests waiting to be delivered late.
    pub fn in_flight(&self) -> usize {
        self.delayed.borrow().len()
    }

    /// Delivers up to `n` delayed requests, in random order; their answers go nowhere.
    pub fn flush_delayed(&self, rng: &mut Rng, n: usize) {
        for _ in 0..n {
            let next = {
                let mut d = self.delayed.borrow_mut();
                if d.is_empty() {
                    return;
                }
                let i = rng.below(d.len() as u64) as usize;
                d.swap_remove(i)
            };
            self.count("late_delivery");
            self.deliver(&next.0, &next.1);
        }
    }

    /// Delivers again a push body that was delivered before (a replay by the network or by an
    /// attacker). The hub must refuse it (`replay`, or `stale_timestamp` once the nonce window
    /// has passed) and change nothing; returns the status.
    pub fn replay_old_push(&self, rng: &mut Rng) -> Option<u16> {
        let body = {
            let p = self.pushes.borrow();
            if p.is_empty() {
                return None;
            }
            p[rng.below(p.len() as u64) as usize].clone()
        };
        self.count("replayed_push");
        Some(self.hub.call(paths::PUSH, &body).0)
    }
}

/// Where a killed client's disk image goes.
#[derive(Debug, Clone)]
pub struct KillPlan {
    /// Kill at this request (0-based count of this transport's requests).
    pub at: usize,
    /// Whether the hub gets the request before the client dies.
    pub after_delivery: bool,
    /// The store's directory.
    pub store_dir: PathBuf,
    /// Where to copy it.
    pub snapshot: PathBuf,
}

/// One device's link through the [`Network`], for one sync attempt.
pub struct Faulty<'n, 'h> {
    net: &'n Network<'h>,
    rng: RefCell<Rng>,
    /// Percent of requests that meet some fault.
    rate: u64,
    calls: Cell<usize>,
    kill: Option<KillPlan>,
    killed: Cell<bool>,
    /// CONTROL ONLY: answer pushes with a forged acknowledgement without delivering them (a
    /// hub that loses data). The schedule's checks must then report a loss.
    pub lie_about_pushes: bool,
}

fn err(what: &str) -> TransportError {
    TransportError(format!("injected: {what}"))
}

/// A forged "stored" answer to a push, acknowledging everything in it.
fn forged_ack(body: &[u8]) -> Option<Vec<u8>> {
    let req = SignedRequest::from_json(body).ok()?;
    let push: PushRequest = req.payload().ok()?;
    let resp = PushResponse {
        chunks: push.chunks.iter().map(|c| PushedChunk { hash: c.hash(), status: PushStatus::Stored, seq: 0 }).collect(),
        doc_keys: push
            .doc_keys
            .iter()
            .map(|k| PushedDocKey { key_id: k.key_id, epoch: k.epoch, status: PushStatus::Stored, seq: 0 })
            .collect(),
    };
    serde_json::to_vec(&resp).ok()
}

impl<'n, 'h> Faulty<'n, 'h> {
    /// A link whose faults come from `seed`; `rate` percent of requests meet a fault.
    pub fn new(net: &'n Network<'h>, seed: u64, rate: u64, kill: Option<KillPlan>) -> Self {
        Faulty { net, rng: RefCell::new(Rng::new(seed)), rate, calls: Cell::new(0), kill, killed: Cell::new(false), lie_about_pushes: false }
    }

    /// Whether the client was killed (its disk image is in the plan's snapshot directory).
    pub fn killed(&self) -> bool {
        self.killed.get()
    }

    fn below(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }

    fn deliver_now(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        // Sometimes a request delayed earlier overtakes this one.
        if self.net.in_flight() > 0 && self.below(100) < 15 {
            self.net.flush_delayed(&mut self.rng.borrow_mut(), 1);
        }
        self.net.deliver(path, body)
    }
}

impl Transport for Faulty<'_, '_> {
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), TransportError> {
        if self.killed.get() {
            return Err(err("client is dead"));
        }
        let n = self.calls.get();
        self.calls.set(n + 1);
        if let Some(plan) = &self.kill {
            if plan.at == n {
                if plan.after_delivery {
                    self.net.deliver(path, body);
                }
                copy_dir(&plan.store_dir, &plan.snapshot).expect("copy the store's disk image");
                self.killed.set(true);
                self.net.count(if plan.after_delivery { "kill_after_delivery" } else { "kill_before_delivery" });
                return Err(err("client killed"));
            }
        }
        if self.lie_about_pushes && path == paths::PUSH {
            self.net.count("forged_push_ack");
            return Ok((200, forged_ack(body).expect("a push body")));
        }
        if self.below(100) >= self.rate {
            return Ok(self.deliver_now(path, body));
        }
        let net = self.net;
        match self.below(10) {
            0 => {
                net.count("drop_request");
                Err(err("request lost"))
            }
            1 => {
                net.count("drop_response");
                self.deliver_now(path, body);
                Err(err("response lost"))
            }
            2 => {
                // The network sent it twice; the client sees one of the two answers.
                net.count("duplicate_request");
                let first = self.deliver_now(path, body);
                let second = net.deliver(path, body);
                Ok(if self.below(2) == 0 { first } else { second })
            }
            3 => {
                // Held in the network and delivered after later requests; the client times out.
                net.count("delay_request");
                net.delayed.borrow_mut().push((path.to_string(), body.to_vec()));
                Err(err("timed out"))
            }
            4 => {
                net.count("truncate_request");
                let cut = self.below(body.len().max(1) as u64) as usize;
                Ok(self.deliver_now(path, &body[..cut]))
            }
            5 => {
                net.count("truncate_response");
                let (status, resp) = self.deliver_now(path, body);
                let cut = self.below(resp.len().max(1) as u64) as usize;
                Ok((status, resp[..cut].to_vec()))
            }
            6 => {
                // The answer is held while other requests (delayed ones, a replayed push) reach
                // the hub first.
                net.count("delay_response");
                let r = self.deliver_now(path, body);
                let k = 1 + self.below(3) as usize;
                net.flush_delayed(&mut self.rng.borrow_mut(), k);
                if self.below(2) == 0 {
                    net.replay_old_push(&mut self.rng.borrow_mut());
                }
                Ok(r)
            }
            7 => {
                // Slow in transit: the hub's clock reads later when it arrives. Mostly inside
                // the ±10 minute window, sometimes past it (refused as stale).
                let ms = if self.below(5) == 0 { 600_001 + self.below(300_000) as i64 } else { self.below(540_000) as i64 };
                net.count(if ms > 600_000 { "delay_past_window" } else { "delay_in_transit" });
                net.hub.clock.advance(ms);
                let r = self.deliver_now(path, body);
                net.hub.clock.advance(-ms);
                Ok(r)
            }
            8 => {
                // Both ways: the request arrives truncated AND the (error) answer is lost.
                net.count("truncate_request_drop_response");
                let cut = self.below(body.len().max(1) as u64) as usize;
                self.deliver_now(path, &body[..cut]);
                Err(err("response lost"))
            }
            _ => {
                // An earlier push reaches the hub again just before this request.
                net.count("replay_before_request");
                net.replay_old_push(&mut self.rng.borrow_mut());
                Ok(self.deliver_now(path, body))
            }
        }
    }
}
