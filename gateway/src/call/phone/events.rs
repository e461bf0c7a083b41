//! What the line user agents report: incoming calls, progress, answers, failures, media changes,
//! transfers.

use std::time::Instant;

use super::{
    Call, CallDisplay, CallState, Direction, KeySet, Lamp, LineId, MediaAction, MediaDescription,
    Phone, Prompt, RING_NO_ANSWER, Ring, Show, ShownState, ToneKind,
};
use crate::call::types::{CallRef, UaCommand, UaEvent};

impl Phone {
    pub(super) fn on_ua(&mut self, now: Instant, event: UaEvent) {
        match event {
            UaEvent::Incoming {
                call,
                line,
                from_name,
                from_number,
                offer,
                replaces,
            } => self.on_incoming(now, call, line, from_name, from_number, offer, replaces),
            UaEvent::Progress { call, code, media } => self.on_progress(call, code, media),
            UaEvent::Answered { call, media } => self.on_answered(call, media),
            UaEvent::Failed { call, code, reason } => self.on_failed(call, code, reason),
            UaEvent::Cancelled { call } | UaEvent::Ended { call } => {
                // A consultation call ending leaves the held original alone.
                if self.calls.contains_key(&call) {
                    self.drop_call(call);
                }
            }
            UaEvent::MediaChanged { call, media } => self.on_media_changed(call, media),
            UaEvent::Info { call, dtmf } => self.play_dtmf(call, dtmf),
            UaEvent::TransferRequested {
                call,
                new_call,
                target,
            } => self.on_transfer_requested(call, new_call, target),
            UaEvent::TransferResult { call, code } => {
                if (200..300).contains(&code) {
                    // The transferee reached the target: our part of both calls is over.
                    let consults: Vec<CallRef> = self
                        .calls
                        .iter()
                        .filter(|(_, c)| c.transfer_of == Some(call))
                        .map(|(r, _)| *r)
                        .collect();
                    for consult in consults {
                        self.end(consult);
                    }
                    self.end(call);
                } else if let Some(c) = self.calls.get(&call) {
                    let line = c.line;
                    self.show(Show::Prompt {
                        line,
                        call,
                        text: Prompt::Text(format!("Transfer failed ({code})")),
                    });
                }
            }
            UaEvent::Registered { .. } | UaEvent::RegistrationFailed { .. } => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_incoming(
        &mut self,
        now: Instant,
        call: CallRef,
        line: LineId,
        from_name: String,
        from_number: String,
        offer: Option<MediaDescription>,
        replaces: Option<CallRef>,
    ) {
        let Some(features) = self.lines.get(&line).cloned() else {
            self.ua(UaCommand::Reject { call, code: 404 });
            return;
        };
        if let Some(offer) = &offer
            && !self.codecs.contains(&offer.codec)
        {
            self.ua(UaCommand::Reject { call, code: 488 });
            return;
        }
        let display = CallDisplay {
            inbound: true,
            calling_name: from_name.clone(),
            calling_number: from_number.clone(),
            ..CallDisplay::default()
        };
        if let Some(old) = replaces.filter(|r| self.calls.contains_key(r)) {
            // Attended transfer arriving here: the new call takes the old one's place, unrung.
            let old_line = self.calls.get(&old).map_or(line, |c| c.line);
            let was_active = self.active == Some(old);
            self.close_media(old);
            self.calls.remove(&old);
            self.media(MediaAction::Release { call: old });
            let mut c = Call::new(
                old_line,
                CallState::Ringing {
                    answering: false,
                    waiting: false,
                },
            );
            c.display = display;
            c.remote = offer;
            self.calls.insert(call, c);
            if was_active {
                self.active = None;
            }
            self.answer(call);
            return;
        }
        if let Some(target) = features.forward_all {
            self.ua(UaCommand::Redirect { call, target });
            return;
        }
        if features.dnd {
            self.ua(UaCommand::Reject { call, code: 486 });
            return;
        }
        let busy = self.active.is_some();
        if busy {
            if let Some(target) = features.forward_busy {
                self.ua(UaCommand::Redirect { call, target });
                return;
            }
            if self.calls.values().filter(|c| c.line == line).count() >= 2 {
                self.ua(UaCommand::Reject { call, code: 486 });
                return;
            }
        }
        let mut c = Call::new(
            line,
            CallState::Ringing {
                answering: false,
                waiting: busy,
            },
        );
        c.display = display.clone();
        c.remote = offer;
        c.deadline = Some(now + RING_NO_ANSWER);
        self.calls.insert(call, c);
        self.ua(UaCommand::Ringing { call });
        // Media is found while the phone rings, so answering opens it at once.
        self.media(MediaAction::Allocate { call });
        self.show(Show::State {
            line,
            call,
            state: ShownState::RingIn,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::RingIn,
        });
        let who = if from_name.is_empty() {
            from_number
        } else {
            from_name
        };
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::From(who.clone()),
        });
        self.show(Show::Notify(Prompt::From(who)));
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        self.show(Show::Lamp {
            line,
            lamp: Lamp::Blink,
        });
        if busy {
            if let Some(active) = self.active
                && let Some(a) = self.calls.get(&active)
            {
                let aline = a.line;
                self.show(Show::Tone {
                    line: aline,
                    call: active,
                    tone: ToneKind::CallWaiting,
                });
            }
            self.show(Show::Ringer {
                line,
                call,
                ring: Ring::FlashOnly,
            });
        } else {
            self.show(Show::Ringer {
                line,
                call,
                ring: Ring::Inside,
            });
        }
    }

    pub(super) fn on_progress(
        &mut self,
        call: CallRef,
        code: u16,
        media: Option<MediaDescription>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Proceeding { .. }) {
            return;
        }
        let line = c.line;
        match media {
            Some(media) if code == 183 || c.remote.is_none() => {
                c.remote = Some(media);
                self.show(Show::StopTone { line, call });
                self.open_media(call);
            }
            _ if code == 180 => {
                self.show(Show::Tone {
                    line,
                    call,
                    tone: ToneKind::Ringback,
                });
            }
            _ => return,
        }
        self.show(Show::State {
            line,
            call,
            state: ShownState::RingOut,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::RingOut,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::RingOut,
        });
    }

    pub(super) fn on_answered(&mut self, call: CallRef, media: MediaDescription) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        match c.state {
            CallState::Proceeding { .. } => {}
            // INVITE without SDP: the answer came in the ACK.
            CallState::Connected => {
                self.on_media_changed(call, media);
                return;
            }
            _ => return,
        }
        c.state = CallState::Connected;
        let line = c.line;
        // Direct mode: the receive channel opened before the INVITE in the one codec offered stays.
        let changed = c.remote.as_ref() != Some(&media)
            && !(c.direct_transmit_pending && c.direct == Some(media.codec));
        let display = c.display.clone();
        c.remote = Some(media);
        self.show(Show::StopTone { line, call });
        if changed {
            self.close_media(call);
        }
        let opened = self.open_receive(call) || self.take_direct_transmit(call);
        self.show(Show::State {
            line,
            call,
            state: ShownState::Connected,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::Connected,
        });
        self.show(Show::Prompt {
            line,
            call,
            text: Prompt::Connected,
        });
        self.show(Show::Info {
            line,
            call,
            info: display,
        });
        if opened {
            self.open_transmit(call);
        }
    }

    pub(super) fn on_failed(&mut self, call: CallRef, code: u16, reason: String) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Proceeding { .. }) {
            self.drop_call(call);
            return;
        }
        c.state = CallState::Releasing;
        let line = c.line;
        self.close_media(call);
        self.media(MediaAction::Release { call });
        let (tone, state) = if matches!(code, 486 | 600) {
            (ToneKind::Busy, ShownState::Busy)
        } else {
            (ToneKind::Reorder, ShownState::Congestion)
        };
        self.show(Show::Tone { line, call, tone });
        self.show(Show::State { line, call, state });
        self.show(Show::Prompt {
            line,
            call,
            text: if state == ShownState::Busy {
                Prompt::Busy
            } else {
                Prompt::Text(format!("{code} {reason}"))
            },
        });
    }

    pub(super) fn on_media_changed(&mut self, call: CallRef, media: MediaDescription) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let line = c.line;
        let held_by_far_end = matches!(media.direction, Direction::SendOnly | Direction::Inactive);
        let moved = c
            .remote
            .as_ref()
            .is_some_and(|r| r.rtp != media.rtp || r.codec != media.codec);
        let was_remote_hold = c.remote_hold;
        c.remote_hold = held_by_far_end;
        c.remote = Some(media.clone());
        let connected = c.state == CallState::Connected;
        if moved {
            self.close_media(call);
        }
        if connected {
            self.open_media(call);
            self.media(MediaAction::Remote { call, media });
            if held_by_far_end != was_remote_hold {
                self.show(Show::State {
                    line,
                    call,
                    state: if held_by_far_end {
                        ShownState::RemoteHold
                    } else {
                        ShownState::Connected
                    },
                });
            }
        }
    }

    pub(super) fn on_transfer_requested(
        &mut self,
        call: CallRef,
        new_call: CallRef,
        target: String,
    ) {
        let line = self
            .calls
            .get(&call)
            .map_or_else(|| self.line_or_default(None), |c| c.line);
        // The referred call is over for us once the new one is placed; its far end sends BYE.
        self.close_media(call);
        if self.active == Some(call) {
            self.active = None;
        }
        let mut c = Call::new(
            line,
            CallState::Proceeding {
                target: target.clone(),
                invited: false,
            },
        );
        c.display = CallDisplay {
            inbound: false,
            called_number: target,
            ..CallDisplay::default()
        };
        let display = c.display.clone();
        self.calls.insert(new_call, c);
        self.active = Some(new_call);
        self.show(Show::State {
            line,
            call: new_call,
            state: ShownState::Proceed,
        });
        self.show(Show::Info {
            line,
            call: new_call,
            info: display,
        });
        self.media(MediaAction::Allocate { call: new_call });
    }
}
