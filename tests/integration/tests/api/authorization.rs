//! Authorization state against the real local DynamoDB-compatible server: tokens carry the stable
//! user id, the roles and scopes of the user item as it is at login and at every refresh; a
//! disabled or deleted user can neither log in nor refresh; and access changes are conditional
//! writes that never create a user.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shared::store::{AccessChange, SessionStore, StoreError, UserStore};
use shared::testing::{
    Event, Fixture, body_json, call, create_user, set_disabled, set_roles, tokens, unique,
    user_id_of,
};

use crate::helpers::{self, login_event, send_login, send_refresh};

const PASSWORD: &str = "correct horse battery staple";

/// Logs in and returns the token body.
async fn logged_in(f: &Fixture, name: &str) -> Value {
    let response = send_login(f, name, PASSWORD).await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    body_json(&response)
}

fn claims(body: &Value) -> shared::token::Claims {
    tokens()
        .verify(body["access_token"].as_str().unwrap())
        .unwrap()
}

/// Deletes the user item straight on the server (what account deletion will do).
async fn delete_user(name: &str) {
    let sdk = shared::aws::sdk_config().unwrap();
    aws_sdk_dynamodb::Client::new(&sdk)
        .delete_item()
        .table_name(shared::testing::tables().users)
        .key("pk", AttributeValue::S(name.to_lowercase()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_role_change_shows_in_the_next_refresh() {
    let f = Fixture::local().await;
    let name = unique("promoted_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let first = logged_in(&f, &name).await;
    let c = claims(&first);
    assert_eq!((c.sub, c.scope.as_str()), (user_id_of(&name), "profile"));
    assert_eq!(c.roles, vec!["user"]);

    set_roles(f.store().as_ref(), &name, &["admin"]).await;
    let response = send_refresh(&f, first["refresh_token"].as_str().unwrap()).await;

    assert_eq!(response.status(), 200);
    let c = claims(&body_json(&response));
    assert_eq!(c.scope, "admin profile");
    assert_eq!(c.roles, vec!["admin", "user"]);
    assert_eq!(c.preferred_username, name);
}

#[tokio::test]
async fn a_disabled_user_learns_it_only_with_the_right_password() {
    let f = Fixture::local().await.with("LOGIN_USER_LIMIT", "5");
    let name = unique("disabled_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    set_disabled(f.store().as_ref(), &name, true).await;
    let deps = helpers::login(&f);

    let right = call(login::handle, &deps, login_event(&name, PASSWORD).request()).await;
    assert_eq!(right.status(), 403);
    assert_eq!(
        body_json(&right),
        json!({"msg": "Account disabled", "error": "account_disabled"})
    );
    let wrong = call(
        login::handle,
        &deps,
        login_event(&name, "wrong passphrase!").request(),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(body_json(&wrong)["error"], "invalid_credentials");
    // A wrong password still counts as a failure: four more and the name is limited; the right
    // password for a disabled account did not count.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = call(
            login::handle,
            &deps,
            login_event(&name, "wrong passphrase!").request(),
        )
        .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 429]);
}

#[tokio::test]
async fn disabling_or_deleting_a_user_refuses_their_refresh_and_revokes_the_session() {
    let f = Fixture::local().await;
    for (case, disable) in [("disabled", true), ("deleted", false)] {
        let name = unique("gone_");
        create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
        let body = logged_in(&f, &name).await;
        let sid = claims(&body).sid;
        if disable {
            set_disabled(f.store().as_ref(), &name, true).await;
        } else {
            delete_user(&name).await;
        }

        let response = send_refresh(&f, body["refresh_token"].as_str().unwrap()).await;

        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(body_json(&response)["error"], "invalid_grant", "{case}");
        let session = f.store().get(&sid).await.unwrap().unwrap();
        assert!(session.revoked, "{case}: the session is revoked");
    }
}

#[tokio::test]
async fn a_name_registered_again_is_another_user_and_old_sessions_do_not_carry_over() {
    let f = Fixture::local().await;
    let name = unique("reused_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let old = logged_in(&f, &name).await;
    delete_user(&name).await;
    // Registered again through the real handler: a fresh random id.
    let register = call(
        register::handle,
        &helpers::register(&f),
        Event::load("register")
            .json(json!({"username": name, "password": PASSWORD}))
            .request(),
    )
    .await;
    assert_eq!(register.status(), 201);
    let new = logged_in(&f, &name).await;
    assert_ne!(claims(&new).sub, claims(&old).sub, "a new sub");

    let response = send_refresh(&f, old["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        response.status(),
        401,
        "the old session is not the new user's"
    );
}

#[tokio::test]
async fn a_user_stored_before_ids_existed_gets_one_at_login_and_keeps_it() {
    let f = Fixture::local().await;
    let name = unique("legacy_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    // Drop the id, as an item written before this change looks.
    let sdk = shared::aws::sdk_config().unwrap();
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(shared::testing::tables().users)
        .key("pk", AttributeValue::S(name.to_lowercase()))
        .update_expression("REMOVE user_id")
        .send()
        .await
        .unwrap();

    let first = claims(&logged_in(&f, &name).await).sub;
    let second = claims(&logged_in(&f, &name).await).sub;

    assert_eq!(first, second, "assigned once, then kept");
    assert_ne!(first, user_id_of(&name));
    let stored = f.store().find(&name.to_lowercase()).await.unwrap().unwrap();
    assert_eq!(stored.user_id.as_deref(), Some(first.as_str()));
}

#[tokio::test]
async fn an_access_change_on_a_user_deleted_meanwhile_creates_nothing() {
    let f = Fixture::local().await;
    let name = unique("vanished_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    delete_user(&name).await;
    let change = AccessChange {
        roles: Some(vec!["admin".into()]),
        disabled: Some(true),
    };

    let updated = f
        .store()
        .update_access(&name.to_lowercase(), None, &change)
        .await
        .unwrap();

    assert!(!updated);
    assert!(
        f.store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_none()
    );
    // And with an expected id, a different user of the same name is not changed either.
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let other = f
        .store()
        .update_access(&name.to_lowercase(), Some("some-other-id"), &change)
        .await
        .unwrap();
    assert!(!other);
    let stored = f.store().find(&name.to_lowercase()).await.unwrap().unwrap();
    assert!(stored.roles.is_empty() && !stored.disabled);
}

/// The real store, except that the user is deleted just before the access change is written:
/// the admin handler read the user, and it is gone by the time of the conditional write.
struct DeletedMeanwhile(std::sync::Arc<shared::store::dynamo::DynamoStore>);

#[async_trait::async_trait]
impl UserStore for DeletedMeanwhile {
    async fn create(
        &self,
        user: &shared::store::NewUser,
    ) -> Result<(), shared::store::CreateUserError> {
        UserStore::create(self.0.as_ref(), user).await
    }
    async fn find(&self, key: &str) -> Result<Option<shared::store::UserRecord>, StoreError> {
        self.0.find(key).await
    }
    async fn replace_hash(&self, key: &str, old: &str, new: &str) -> Result<(), StoreError> {
        self.0.replace_hash(key, old, new).await
    }
    async fn update_access(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
    ) -> Result<bool, StoreError> {
        delete_user(key).await;
        self.0.update_access(key, user_id, change).await
    }
    async fn update_access_keeping_admin(
        &self,
        key: &str,
        user_id: Option<&str>,
        change: &AccessChange,
        remaining: &shared::store::RemainingAdmin<'_>,
    ) -> Result<shared::store::GuardedChange, StoreError> {
        delete_user(key).await;
        self.0
            .update_access_keeping_admin(key, user_id, change, remaining)
            .await
    }
    async fn assign_id(&self, key: &str, proposed: &str) -> Result<Option<String>, StoreError> {
        self.0.assign_id(key, proposed).await
    }
    async fn forget_sources(&self, key: &str, user_id: &str) -> Result<(), StoreError> {
        self.0.forget_sources(key, user_id).await
    }
    async fn change_password(
        &self,
        key: &str,
        user_id: &str,
        old: &str,
        new: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        self.0.change_password(key, user_id, old, new, by).await
    }
    async fn delete_user(&self, key: &str, user_id: &str) -> Result<(), StoreError> {
        self.0.delete_user(key, user_id).await
    }
    async fn update_mfa(
        &self,
        key: &str,
        user_id: &str,
        proof: &shared::store::MfaProof,
        change: &shared::store::MfaChange,
    ) -> Result<bool, StoreError> {
        self.0.update_mfa(key, user_id, proof, change).await
    }
    async fn set_pending_email(
        &self,
        key: &str,
        user_id: &str,
        pending: &shared::store::PendingEmail,
    ) -> Result<bool, StoreError> {
        self.0.set_pending_email(key, user_id, pending).await
    }
    async fn verify_email(
        &self,
        key: &str,
        user: &shared::store::UserRecord,
        token: &str,
        now: u64,
    ) -> Result<shared::store::VerifyOutcome, StoreError> {
        self.0.verify_email(key, user, token, now).await
    }
    async fn email_owner(&self, address: &str) -> Result<Option<String>, StoreError> {
        self.0.email_owner(address).await
    }
    async fn set_reset(
        &self,
        key: &str,
        user_id: &str,
        token: &str,
        expires_at: u64,
    ) -> Result<bool, StoreError> {
        self.0.set_reset(key, user_id, token, expires_at).await
    }
    async fn reset_password(
        &self,
        key: &str,
        token: &str,
        now: u64,
        new: &str,
    ) -> Result<bool, StoreError> {
        self.0.reset_password(key, token, now, new).await
    }
}

#[async_trait::async_trait]
impl shared::store::ChallengeStore for DeletedMeanwhile {
    async fn create_challenge(
        &self,
        challenge: &shared::store::Challenge,
    ) -> Result<(), StoreError> {
        self.0.create_challenge(challenge).await
    }
    async fn challenge(&self, id: &str) -> Result<Option<shared::store::Challenge>, StoreError> {
        self.0.challenge(id).await
    }
    async fn challenge_failed(
        &self,
        id: &str,
        max_wrong: u32,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.0.challenge_failed(id, max_wrong, now).await
    }
    async fn finish_login(
        &self,
        challenge: &shared::store::Challenge,
        max_wrong: u32,
        now: u64,
        proof: &shared::store::MfaProof,
        session: &shared::store::Session,
        mark: Option<&shared::store::FamiliarMark>,
    ) -> Result<shared::store::ChallengeOutcome, StoreError> {
        self.0
            .finish_login(challenge, max_wrong, now, proof, session, mark)
            .await
    }
}

#[async_trait::async_trait]
impl shared::store::CounterStore for DeletedMeanwhile {
    async fn admit(
        &self,
        key: &str,
        claim: &shared::store::Claim,
    ) -> Result<shared::store::Admission, StoreError> {
        self.0.admit(key, claim).await
    }
    async fn trim(
        &self,
        key: &str,
        seen: &[u64],
        stale_upto: u64,
        give_back: Option<u64>,
    ) -> Result<(), StoreError> {
        self.0.trim(key, seen, stale_upto, give_back).await
    }
    async fn mark(&self, key: &str, owner: &str, expires_at: u64) -> Result<(), StoreError> {
        self.0.mark(key, owner, expires_at).await
    }
    async fn marked(&self, key: &str, now: u64) -> Result<Option<String>, StoreError> {
        self.0.marked(key, now).await
    }
}

#[async_trait::async_trait]
impl SessionStore for DeletedMeanwhile {
    async fn create(&self, session: &shared::store::Session) -> Result<(), StoreError> {
        SessionStore::create(self.0.as_ref(), session).await
    }
    async fn get(&self, id: &str) -> Result<Option<shared::store::Session>, StoreError> {
        self.0.get(id).await
    }
    async fn advance(&self, id: &str, from: u64, now: u64) -> Result<bool, StoreError> {
        self.0.advance(id, from, now).await
    }
    async fn revoke(&self, id: &str, now: u64) -> Result<(), StoreError> {
        self.0.revoke(id, now).await
    }
    async fn confirm(&self, id: &str, generation: u64, now: u64) -> Result<bool, StoreError> {
        self.0.confirm(id, generation, now).await
    }
    async fn revoke_all(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: u64,
    ) -> Result<u32, StoreError> {
        self.0.revoke_all(user_id, except, now).await
    }
    async fn list(
        &self,
        user_id: &str,
        live_at: Option<u64>,
    ) -> Result<Vec<shared::store::Session>, StoreError> {
        self.0.list(user_id, live_at).await
    }
    async fn end_owned(&self, id: &str, user_id: &str, now: u64) -> Result<bool, StoreError> {
        self.0.end_owned(id, user_id, now).await
    }
    async fn delete_all(&self, user_id: &str, except: Option<&str>) -> Result<(), StoreError> {
        self.0.delete_all(user_id, except).await
    }
    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.0.delete_session(id).await
    }
    async fn live_uses(
        &self,
        user_id: &str,
        except: &str,
        now: u64,
    ) -> Result<Vec<shared::store::SessionUse>, StoreError> {
        self.0.live_uses(user_id, except, now).await
    }
    async fn evict(
        &self,
        user_id: &str,
        victim: &shared::store::SessionUse,
        now: u64,
    ) -> Result<shared::store::Eviction, StoreError> {
        self.0.evict(user_id, victim, now).await
    }
    async fn page(
        &self,
        user_id: &str,
        now: u64,
        limit: usize,
        after: Option<&shared::store::SessionCursor>,
    ) -> Result<shared::store::SessionPage, StoreError> {
        self.0.page(user_id, now, limit, after).await
    }
}

fn admin_update(
    f: &Fixture,
    store: std::sync::Arc<dyn shared::store::Store>,
) -> admin_update_user::Deps {
    let settings = admin_update_user::Settings::from_vars(f.vars()).unwrap();
    admin_update_user::Deps::build(settings, store, f.keys(), f.clock()).unwrap()
}

fn patch(name: &str, admin: &str, body: Value) -> Event {
    Event::load("admin-update-user")
        .route("PATCH", &format!("/admin/users/{name}"))
        .header("authorization", Some(admin))
        .json(body)
}

#[tokio::test]
async fn a_patch_on_a_user_deleted_meanwhile_is_404_and_creates_nothing() {
    let f = Fixture::local().await;
    let (_, admin) = shared::testing::admin_caller(f.store()).await;
    let name = unique("racing_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let deps = admin_update(&f, std::sync::Arc::new(DeletedMeanwhile(f.store())));

    let response = call(
        admin_update_user::handle,
        &deps,
        patch(&name, &admin, json!({"roles": ["admin"], "disabled": true})).request(),
    )
    .await;

    assert_eq!(response.status(), 404, "{}", body_json(&response));
    assert_eq!(body_json(&response)["error"], "user_not_found");
    assert!(
        f.store()
            .find(&name.to_lowercase())
            .await
            .unwrap()
            .is_none(),
        "nothing created"
    );
}

#[tokio::test]
async fn disabling_through_the_admin_api_ends_the_users_refreshes() {
    let f = Fixture::local().await;
    let (_, admin) = shared::testing::admin_caller(f.store()).await;
    let name = unique("banned_");
    create_user(f.store().as_ref(), &name, PASSWORD, &[]).await;
    let (first, second) = (logged_in(&f, &name).await, logged_in(&f, &name).await);

    let response = call(
        admin_update_user::handle,
        &admin_update(&f, f.store()),
        patch(&name, &admin, json!({"disabled": true})).request(),
    )
    .await;
    assert_eq!(response.status(), 200);

    for body in [first, second] {
        let refreshed = send_refresh(&f, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status(), 401);
        assert_eq!(body_json(&refreshed)["error"], "invalid_grant");
    }
}
