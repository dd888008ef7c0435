//! Accounts on a connection: REGISTER, LOGIN, AUTH, REFRESH, LOGOUT, and
//! binding the connection to its user (AUTH_OK, stored rooms, presence).

use super::*;

/// How a sign-in was proven, for the `AUTH_OK` reply.
pub(super) enum SignIn {
    /// Fresh tokens (REGISTER, LOGIN, REFRESH).
    Issued(Tokens),
    /// An existing access token (AUTH, or the upgrade's bearer token) and its expiry.
    Token(String, i64),
}

impl Connection {
    pub(super) fn not_signed_in(&self) -> Handled {
        match &self.me {
            Some(me) => Err(refuse(ErrorCode::Conflict, format!("already signed in as \"{}\"", me.user.name))),
            None => Ok(()),
        }
    }

    pub(super) async fn register(&mut self, f: proto::Register, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        let invite = match self.ctx.config().registration {
            crate::config::Registration::Closed => {
                return Err(refuse(ErrorCode::Forbidden, "registration is closed on this server"));
            }
            crate::config::Registration::Invite if f.invite.is_none() => {
                return Err(refuse(ErrorCode::Forbidden, "registration needs an invite on this server: send `invite`"));
            }
            crate::config::Registration::Invite => f.invite,
            // An open server takes anyone, and uses up no invite.
            crate::config::Registration::Open => None,
        };
        let hash = crate::auth::hash_password(f.password).await?;
        let shared = self.ctx.clone();
        let guest_is_gone = move |id| shared.fanout.status(id).is_none();
        let (user, tokens) = self.ctx.store.register(f.user_name, hash, f.display_name, invite, guest_is_gone).await?;
        self.sign_in(user, None, SignIn::Issued(tokens), r).await;
        Ok(())
    }

    pub(super) async fn login(&mut self, f: proto::Login, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        let user_key = format!("user:{}", f.user_name.to_lowercase());
        let keys = [user_key.clone(), format!("ip:{}", self.peer.ip())];
        self.ctx
            .logins
            .check(&keys)
            .await
            .map_err(|wait| Refusal::rate_limited("too many failed logins; wait before trying again", wait))?;
        let name = f.user_name.clone();
        let found = self.ctx.store.credentials(name).await?;
        let (user, hash) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
        let verified = crate::auth::verify_password(f.password, hash).await;
        let Some(user) = user.filter(|_| verified) else {
            self.ctx.logins.failed(&keys).await;
            crate::metrics::count(|m| {
                m.logins_failed.inc();
            });
            return Err(refuse(ErrorCode::Unauthorized, "wrong user name or password"));
        };
        self.ctx.logins.succeeded(&user_key).await;
        // Said only to someone who knows the password.
        if let Some(reason) = self.ctx.store.server_ban_of(user.id).await? {
            return Err(crate::store::account_banned(reason.as_deref()).into());
        }
        let user_id = user.id;
        let tokens = self.ctx.store.issue_tokens(user_id).await?;
        self.sign_in(user, None, SignIn::Issued(tokens), r).await;
        Ok(())
    }

    pub(super) async fn auth(&mut self, f: proto::Auth, r: Option<&str>) -> Handled {
        self.not_signed_in()?;
        let token = f.token.clone();
        let access = self.ctx.store.check_access(token).await?;
        self.sign_in(access.user, Some(access.family), SignIn::Token(f.token, access.expires_at), r).await;
        Ok(())
    }

    pub(super) async fn refresh(&mut self, f: proto::Refresh, r: Option<&str>) -> Handled {
        let owner = self.me.as_ref().map(|m| m.user.id);
        let rotation = self.ctx.store.rotate(f.refresh_token, owner).await?;
        let (user, tokens) = match rotation {
            Rotation::Rotated(user, tokens) => (user, tokens),
            Rotation::ReuseDetected(family) => {
                self.ctx.fanout.sign_out(&family);
                return Err(refuse(
                    ErrorCode::Unauthorized,
                    "that refresh token was already used; every session of that sign-in is revoked, LOGIN again",
                ));
            }
        };
        match &mut self.me {
            Some(me) => {
                // The connection now belongs to the refreshed sign-in, for LOGOUT and revocation too.
                me.family = Some(tokens.family.clone());
                self.ctx.fanout.hub().set_family(self.id, &tokens.family);
                let reply = auth_ok(&user, &me.profile, &SignIn::Issued(tokens));
                self.send_ref(&reply, r);
            }
            None => self.sign_in(user, None, SignIn::Issued(tokens), r).await,
        }
        Ok(())
    }

    pub(super) async fn logout(&mut self) -> Handled {
        let me = self.me.as_ref().ok_or_else(|| refuse(ErrorCode::Unauthorized, "not signed in"))?;
        if let Some(family) = me.family.clone() {
            let revoked = family.clone();
            self.ctx.store.revoke_family(revoked).await?;
            // Any other connection on this sign-in ends too.
            self.ctx.fanout.sign_out(&family);
        }
        self.closing = Some((close::NORMAL, "logged out"));
        Ok(())
    }

    /// Binds this connection to `user`: replies `AUTH_OK`, enters the user's
    /// rooms (announcing presence), and lists them as `ROOMS`.
    pub(super) async fn sign_in(&mut self, user: User, family: Option<String>, how: SignIn, r: Option<&str>) {
        let family = family.or_else(|| match &how {
            SignIn::Issued(t) => Some(t.family.clone()),
            SignIn::Token(..) => None,
        });
        let user_id = user.id;
        let profile = match self.ctx.store.profile(user_id).await {
            Ok(profile) => profile,
            Err(e) => return self.send_ref(&Refusal::from(e).frame(), r),
        };
        self.send_ref(&auth_ok(&user, &profile, &how), r);
        let first = self.attach(user, profile, family);
        if let Err(e) = self.enter_stored_rooms(None).await {
            return self.send(&e.frame());
        }
        if first {
            self.announce_presence(proto::PresenceStatus::Online);
        }
        if let Err(e) = self.list_rooms(None).await {
            self.send(&e.frame());
        }
    }

    /// Subscribes this connection to every room its user belongs to,
    /// announcing the user where they were not present yet.
    pub(super) async fn enter_stored_rooms(&mut self, except: Option<&str>) -> Handled {
        let user_id = self.me()?.id;
        let rooms = self.ctx.store.rooms_of(user_id).await?;
        for room in rooms.into_iter().filter(|r| Some(r.as_str()) != except) {
            if self.ctx.fanout.enter_conn(&room, self.id, user_id) {
                self.announce(&room, true).await;
            }
        }
        Ok(())
    }

    /// Binds this connection to `user` in the hub. True if it is the user's first.
    pub(super) fn attach(&mut self, user: User, profile: Profile, family: Option<String>) -> bool {
        tracing::Span::current().record("user", user.name.as_str());
        tracing::debug!(guest = user.guest, "signed in");
        let first = self.ctx.fanout.attach(self.id, &user, self.outbox.clone(), family.clone());
        self.me = Some(Me { user, profile, family });
        first
    }
}

fn auth_ok(user: &User, profile: &Profile, how: &SignIn) -> ServerFrame {
    let (token, refresh_token, expires_at) = match how {
        SignIn::Issued(t) => (t.access.clone(), Some(t.refresh.clone()), t.access_expires_at),
        SignIn::Token(token, expires) => (token.clone(), None, *expires),
    };
    ServerFrame::AuthOk {
        user_id: user.name.clone(),
        user_name: user.name.clone(),
        display_name: profile.display_name.clone(),
        status_text: profile.status_text.clone(),
        token,
        refresh_token,
        expires_at: format_millis(expires_at),
    }
}
