//! Answer, hold, resume, transfer, forwarding and do-not-disturb.

use std::time::Instant;

use super::{
    CallState, Direction, ForwardKind, KeySet, Lamp, LineId, MediaAction, Phone, PhoneOutput,
    Prompt, Purpose, Ring, Show, ShownState,
};
use crate::call::types::{CallRef, UaCommand};

impl Phone {
    pub(super) fn answer(&mut self, call: CallRef) {
        if let Some(active) = self.active.filter(|a| *a != call) {
            match self.calls.get(&active).map(|c| c.state.clone()) {
                Some(CallState::Connected) => self.hold(active),
                Some(_) => self.end(active),
                None => {}
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.deadline = None;
        c.state = CallState::Ringing {
            answering: true,
            waiting: false,
        };
        let line = c.line;
        self.active = Some(call);
        self.show(Show::Ringer {
            line,
            call,
            ring: Ring::Off,
        });
        if !self.off_hook {
            self.show(Show::Speaker(true));
        }
        self.show(Show::Lamp {
            line,
            lamp: Lamp::On,
        });
        self.show(Show::State {
            line,
            call,
            state: ShownState::OffHook,
        });
        self.show(Show::ActivateLine(line));
        self.show(Show::StopTone { line, call });
        if self.calls.get(&call).is_some_and(|c| c.local.is_some()) {
            self.connect_answered(call);
        } else {
            // Allocation still pending: MediaReady finishes the answer.
            self.media(MediaAction::Allocate { call });
        }
    }

    /// An answered incoming call whose media address is known: 200 to the caller, the phone connected.
    pub(super) fn connect_answered(&mut self, call: CallRef) {
        let Some(media) = self.offer(call, Direction::SendRecv) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Connected;
        let line = c.line;
        let display = c.display.clone();
        self.ua(UaCommand::Answer { call, media });
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

    pub(super) fn hold(&mut self, call: CallRef) {
        if self.calls.get(&call).map(|c| &c.state) != Some(&CallState::Connected) {
            return;
        }
        let Some(media) = self.offer(call, Direction::SendOnly) else {
            return;
        };
        self.ua(UaCommand::Hold {
            call,
            on: true,
            media,
        });
        self.media(MediaAction::Hold { call, on: true });
        self.close_media(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Held;
        let line = c.line;
        if self.active == Some(call) {
            self.active = None;
        }
        self.show(Show::State {
            line,
            call,
            state: ShownState::Hold,
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::OnHold,
        });
        self.show(Show::Lamp {
            line,
            lamp: Lamp::Wink,
        });
    }

    pub(super) fn resume(&mut self, call: CallRef) {
        if self.calls.get(&call).map(|c| &c.state) != Some(&CallState::Held) {
            return;
        }
        if let Some(active) = self.active.filter(|a| *a != call) {
            match self.calls.get(&active).map(|c| c.state.clone()) {
                Some(CallState::Connected) => self.hold(active),
                Some(_) => self.end(active),
                None => {}
            }
        }
        let Some(media) = self.offer(call, Direction::SendRecv) else {
            return;
        };
        self.ua(UaCommand::Hold {
            call,
            on: false,
            media,
        });
        self.media(MediaAction::Hold { call, on: false });
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.state = CallState::Connected;
        let line = c.line;
        let remote_hold = c.remote_hold;
        self.active = Some(call);
        self.show(Show::Lamp {
            line,
            lamp: Lamp::On,
        });
        self.show(Show::ActivateLine(line));
        self.show(Show::State {
            line,
            call,
            state: if remote_hold {
                ShownState::RemoteHold
            } else {
                ShownState::Connected
            },
        });
        self.show(Show::Keys {
            line,
            call,
            set: KeySet::Connected,
        });
        self.open_media(call);
    }

    pub(super) fn transfer(&mut self, now: Instant, call: Option<CallRef>) {
        let Some(call) = call else {
            return;
        };
        let Some(c) = self.calls.get(&call).cloned() else {
            return;
        };
        match (c.transfer_of, &c.state) {
            // First press on a connected call: hold it and dial the target.
            (None, CallState::Connected) => {
                let line = c.line;
                let consult = self.new_dialing(line, Purpose::Call);
                if let Some(k) = self.calls.get_mut(&consult) {
                    k.transfer_of = Some(call);
                }
                self.show(Show::Prompt {
                    line,
                    call: consult,
                    text: Prompt::Transfer,
                });
            }
            // Second press: complete.
            (Some(original), CallState::Dialing { digits }) if !digits.is_empty() => {
                let target = digits.clone();
                self.calls.remove(&call);
                self.active = None;
                self.show_call_gone(c.line, call);
                self.ua(UaCommand::Transfer {
                    call: original,
                    target,
                });
            }
            (Some(original), CallState::Proceeding { target, .. }) => {
                let target = target.clone();
                self.end(call);
                self.ua(UaCommand::Transfer {
                    call: original,
                    target,
                });
            }
            (Some(original), CallState::Connected) => {
                self.ua(UaCommand::TransferAttended {
                    call: original,
                    consult: call,
                });
            }
            _ => {
                let _ = now;
            }
        }
    }

    pub(super) fn forward_key(&mut self, line: Option<LineId>, kind: ForwardKind) {
        let line = self.line_or_default(line);
        if self.forward_target(line, kind).is_some() {
            self.set_forward(line, kind, None);
            self.show(Show::Notify(Prompt::Text(String::new())));
            return;
        }
        if self.active.is_some() {
            return;
        }
        self.new_dialing(line, Purpose::Forward(kind));
    }

    pub(super) fn set_forward(&mut self, line: LineId, kind: ForwardKind, target: Option<String>) {
        if let Some(f) = self.lines.get_mut(&line) {
            *f.forward_mut(kind) = target;
            let features = f.clone();
            self.out.push_back(PhoneOutput::Features { line, features });
        }
    }

    pub(super) fn toggle_dnd(&mut self) {
        let on = !self.lines.values().any(|f| f.dnd);
        let lines: Vec<LineId> = self.lines.keys().copied().collect();
        for line in lines {
            if let Some(f) = self.lines.get_mut(&line) {
                f.dnd = on;
                let features = f.clone();
                self.out.push_back(PhoneOutput::Features { line, features });
            }
        }
        self.show(Show::Notify(if on {
            Prompt::Dnd
        } else {
            Prompt::Text(String::new())
        }));
    }

    pub(super) fn redirect(&mut self, call: CallRef, target: String) {
        self.ua(UaCommand::Redirect { call, target });
        if self.calls.contains_key(&call) {
            self.drop_call(call);
        }
    }

    pub(super) fn refuse(&mut self, call: CallRef, code: u16) {
        self.ua(UaCommand::Reject { call, code });
        if self.calls.contains_key(&call) {
            self.drop_call(call);
        }
    }
}
