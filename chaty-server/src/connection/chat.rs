//! CHAT_MESSAGE (commit, then fan-out from the writer, in commit order) and HISTORY.

use super::*;

impl Connection {
    pub(super) async fn chat(&mut self, f: proto::ChatMessage, reference: Option<String>) -> Handled {
        let me = self.me()?.clone();
        if let Some(claimed) = &f.user_id {
            if !claimed.eq_ignore_ascii_case(&me.name) {
                return Err(refuse(ErrorCode::Forbidden, format!("userId \"{claimed}\" is not you (\"{}\")", me.name)));
            }
        }
        let display_name = match (&f.user_name, me.guest) {
            (Some(shown), true) => shown.clone(),
            _ => me.name.clone(),
        };
        self.stop_typing(&f.room_id);
        // Refused at once when the server cannot keep up (overload is told, never silent).
        self.ctx.busy.admit()?;
        let post = Post {
            room_id: f.room_id,
            sender: me,
            display_name,
            content: f.content,
            client_id: f.client_id,
            reply_to: f.reply_to,
            attachment: f.attachment,
        };
        let (shared, outbox) = (self.ctx.clone(), self.outbox.clone());
        let arrived = std::time::Instant::now();
        self.ctx
            .store
            .post(
                post,
                // Runs after commit, in commit order: that is what keeps
                // live delivery in `seq` order.
                move |result| match result {
                    Ok(posted) if posted.new => {
                        crate::metrics::count(|m| {
                            m.messages_stored.inc();
                            m.commit_seconds.observe(arrived.elapsed().as_secs_f64());
                        });
                        let (room, seq) = (posted.message.room_id.clone(), posted.message.seq);
                        shared.fanout.message(
                            &room,
                            seq,
                            ServerFrame::ChatMessage(posted.message).to_json(None).into(),
                        );
                    }
                    // A retry: the original, to the sender only, answering its request.
                    Ok(posted) => {
                        outbox.send(ServerFrame::ChatMessage(posted.message).to_json(reference.as_deref()).into());
                    }
                    Err(e) => {
                        outbox.send(e.to_refusal().frame().to_json(reference.as_deref()).into());
                    }
                },
            )
            .await?;
        Ok(())
    }

    pub(super) async fn history(&self, room_id: String, page: Page, r: Option<&str>) -> Handled {
        let user_id = self.me()?.id;
        let (messages, has_more) = self.ctx.store.history(room_id.clone(), user_id, page).await?;
        self.send_ref(&ServerFrame::History { room_id, messages, has_more }, r);
        Ok(())
    }
}
