//! The schedule pages of the web UI, in process over the real router, engine and SQLite store:
//! the list and its add form (field errors beside the fields, input kept, nothing saved),
//! a schedule's page with its history, run now, enable/disable, delete, the edit form, and
//! escaping.

mod common;

use axum::http::StatusCode;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use common::{TestApp, TestResponse, flash, location, post_form};
use cyberbrain_core::domain::{PageRequest, ScheduleType, Trigger};

fn assert_html_page(response: &TestResponse) {
    assert_eq!(
        response.header(CONTENT_TYPE),
        Some("text/html; charset=utf-8"),
        "{}",
        response.text()
    );
    let csp = response.header(CONTENT_SECURITY_POLICY).unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "CSP: {csp}");
    assert!(
        response
            .text()
            .contains(r#"<a href="/webui/schedules" aria-current="page">Schedules</a>"#),
        "the Schedules navigation entry is highlighted"
    );
}

/// A complete add-form submission for an hourly interval schedule of `gpu_report`.
fn interval_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("task_key", "gpu_report".into()),
        ("directive", String::new()),
        ("custom_directive_text", String::new()),
        ("schedule_type", "interval".into()),
        ("interval_minutes", "60".into()),
        ("cron_expr", String::new()),
        ("run_at", String::new()),
        ("timezone", "UTC".into()),
        ("task3_scope", "allowlist".into()),
        ("max_global", String::new()),
        ("max_per_job", "1".into()),
        ("misfire_policy", "skip".into()),
    ]
}

async fn submit(app: &TestApp, pairs: &[(&'static str, String)]) -> TestResponse {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_form(app, "/webui/schedules", &pairs).await
}

fn set(pairs: &mut [(&'static str, String)], field: &str, value: &str) {
    for (key, current) in pairs.iter_mut() {
        if *key == field {
            *current = value.to_string();
        }
    }
}

async fn schedule_count(app: &TestApp) -> u64 {
    app.cb
        .list_schedules(PageRequest::first(50))
        .await
        .unwrap()
        .count
}

#[tokio::test]
async fn the_list_renders_and_the_form_creates_a_schedule() {
    let app = TestApp::new().await;
    let empty = app.get("/webui/schedules").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_html_page(&empty);
    let body = empty.text();
    assert!(body.contains("No schedules yet."));
    assert!(
        body.contains(r#"<option value="gpu_report">"#),
        "task select"
    );
    assert!(
        body.contains(r#"value="UTC""#),
        "the time zone defaults to UTC"
    );
    assert!(
        body.contains(r#"<option value="custom""#),
        "custom directive choice"
    );

    let created = submit(&app, &interval_form("Hourly GPU")).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let schedules = app.cb.list_schedules(PageRequest::first(10)).await.unwrap();
    assert_eq!(schedules.count, 1);
    let schedule = &schedules.items[0];
    assert_eq!(
        location(&created),
        format!("/webui/schedules/{}", schedule.id)
    );
    assert_eq!(flash(&created), "Schedule \"Hourly GPU\" created.");
    assert_eq!(schedule.task_key, "gpu_report");
    assert_eq!(schedule.schedule_type, ScheduleType::Interval);
    assert_eq!(schedule.interval_minutes, Some(60));
    assert_eq!(schedule.max_per_job, Some(1));
    assert_eq!(schedule.max_global, None);
    assert_eq!(schedule.misfire_policy.as_str(), "skip");
    assert!(schedule.enabled && schedule.next_run_at.is_some());

    let list = app.get("/webui/schedules/").await;
    assert_html_page(&list);
    let text = list.text();
    assert!(text.contains(&format!(
        r#"<a href="/webui/schedules/{}">Hourly GPU</a>"#,
        schedule.id
    )));
    assert!(text.contains("every 60 min (UTC)"));
    assert!(text.contains("<td>default</td>"), "directive column");
    assert!(text.contains(&format!(r#"action="/webui/schedules/{}/run""#, schedule.id)));

    // A custom directive and a cron timing in another zone.
    let mut custom = interval_form("Morning logs");
    set(&mut custom, "task_key", "log_triage");
    set(&mut custom, "directive", "custom");
    set(&mut custom, "custom_directive_text", "Only report errors.");
    set(&mut custom, "schedule_type", "cron");
    set(&mut custom, "interval_minutes", "");
    set(&mut custom, "cron_expr", "0 6 * * *");
    set(&mut custom, "timezone", "Europe/Berlin");
    let created = submit(&app, &custom).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let list = app.get("/webui/schedules").await.text();
    assert!(list.contains("cron 0 6 * * * (Europe/Berlin)"), "{list}");
    assert!(list.contains("<td>custom</td>"));
}

#[tokio::test]
async fn a_bad_cron_is_shown_beside_its_field_and_nothing_is_saved() {
    let app = TestApp::new().await;
    let mut form = interval_form("Broken & odd");
    set(&mut form, "schedule_type", "cron");
    set(&mut form, "cron_expr", "every tuesday");
    let rejected = submit(&app, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert_html_page(&rejected);
    let body = rejected.text();
    assert!(body.contains("The schedule was not saved."), "{body}");
    let cron_field = body
        .split(r#"<label for="cron_expr">"#)
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .unwrap_or_default();
    assert!(
        cron_field.contains(r#"class="field-error""#),
        "the message sits beside the cron field: {cron_field}"
    );
    assert!(body.contains(r#"value="every tuesday""#), "input kept");
    assert!(
        body.contains(r#"value="Broken &#38; odd""#),
        "name kept, escaped"
    );
    assert!(body.contains(r#"<option value="cron" selected>"#));
    assert_eq!(schedule_count(&app).await, 0);

    // Text where a number belongs, and an unknown task, are field errors too.
    let mut form = interval_form("x");
    set(&mut form, "interval_minutes", "often");
    let rejected = submit(&app, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert!(
        rejected
            .text()
            .contains("&#34;often&#34; is not a whole number")
    );
    let mut form = interval_form("x");
    set(&mut form, "task_key", "no_such_task");
    let rejected = submit(&app, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert!(
        rejected.text().contains("unknown task"),
        "{}",
        rejected.text()
    );
    assert_eq!(schedule_count(&app).await, 0);
}

#[tokio::test]
async fn run_now_lands_in_the_history_and_toggle_and_delete_work() {
    let app = TestApp::new().await;
    let created = submit(&app, &interval_form("Hourly GPU")).await;
    let page_uri = location(&created);
    let id: i64 = page_uri.rsplit('/').next().unwrap().parse().unwrap();

    let detail = app.get(&page_uri).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_html_page(&detail);
    assert!(detail.text().contains("This schedule has not fired yet."));

    let ran = post_form(&app, &format!("/webui/schedules/{id}/run"), &[]).await;
    assert_eq!(ran.status, StatusCode::SEE_OTHER, "{}", ran.text());
    assert_eq!(location(&ran), page_uri);
    let history = app
        .cb
        .schedule_history(id, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(history.count, 1);
    let run_id = history.items[0].run_id.expect("the slot names its run");
    assert_eq!(
        flash(&ran),
        format!("Run {run_id} launched from schedule \"Hourly GPU\".")
    );
    assert_eq!(
        app.cb.get_run(run_id).await.unwrap().trigger,
        Trigger::Schedule
    );
    let detail = app.get(&format!("/webui/schedules/{id}/")).await.text();
    assert!(
        detail.contains(&format!(r#"<a href="/webui/runs/{run_id}">#{run_id}</a>"#)),
        "{detail}"
    );
    assert!(!detail.contains("This schedule has not fired yet."));

    let off = post_form(&app, &format!("/webui/schedules/{id}/toggle"), &[]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER);
    assert_eq!(flash(&off), "Schedule \"Hourly GPU\" disabled.");
    let schedule = app.cb.get_schedule(id).await.unwrap();
    assert!(!schedule.enabled && schedule.next_run_at.is_none());
    assert!(
        app.get("/webui/schedules")
            .await
            .text()
            .contains("Enable</button>")
    );
    let on = post_form(&app, &format!("/webui/schedules/{id}/toggle/"), &[]).await;
    assert_eq!(flash(&on), "Schedule \"Hourly GPU\" enabled.");
    let schedule = app.cb.get_schedule(id).await.unwrap();
    assert!(schedule.enabled && schedule.next_run_at.is_some());

    let deleted = post_form(&app, &format!("/webui/schedules/{id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&deleted), "/webui/schedules");
    assert_eq!(schedule_count(&app).await, 0);

    for uri in [
        format!("/webui/schedules/{id}"),
        "/webui/schedules/abc".into(),
    ] {
        let missing = app.get(&uri).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(missing.text().contains("There is no schedule"));
    }
    let missing = post_form(&app, &format!("/webui/schedules/{id}/run"), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn names_and_texts_are_escaped() {
    let app = TestApp::new().await;
    let hostile = "<script>alert(1)</script>";
    let mut form = interval_form(hostile);
    set(&mut form, "directive", "custom");
    set(&mut form, "custom_directive_text", hostile);
    let created = submit(&app, &form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    for uri in ["/webui/schedules".to_string(), location(&created)] {
        let body = app.get(&uri).await.text();
        assert!(!body.contains(hostile), "{uri} must not carry live markup");
        assert!(body.contains(escaped), "{uri}: {body}");
    }
    // A rejected form echoes the input escaped as well.
    set(&mut form, "interval_minutes", "0");
    let rejected = submit(&app, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert!(!rejected.text().contains(hostile));
}

/// Creates a cron schedule in Berlin time with custom directive text; returns its id.
async fn berlin_cron(app: &TestApp, name: &str) -> i64 {
    let mut form = interval_form(name);
    set(&mut form, "directive", "custom");
    set(
        &mut form,
        "custom_directive_text",
        "Check the fans & report",
    );
    set(&mut form, "schedule_type", "cron");
    set(&mut form, "cron_expr", "0 6 * * *");
    set(&mut form, "timezone", "Europe/Berlin");
    let created = submit(app, &form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    location(&created)
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn submit_edit(app: &TestApp, id: i64, pairs: &[(&'static str, String)]) -> TestResponse {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_form(app, &format!("/webui/schedules/{id}/edit"), &pairs).await
}

#[tokio::test]
async fn the_edit_form_is_prefilled_and_linked() {
    let app = TestApp::new().await;
    let id = berlin_cron(&app, "Morning fans").await;
    let edit = app.get(&format!("/webui/schedules/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text());
    assert_html_page(&edit);
    let body = edit.text();
    assert!(
        body.contains(&format!(r#"action="/webui/schedules/{id}/edit""#)),
        "{body}"
    );
    assert!(body.contains(r#"value="Morning fans""#));
    assert!(body.contains(r#"<option value="gpu_report" selected>"#));
    assert!(body.contains(r#"<option value="custom" selected>"#));
    assert!(
        body.contains("Check the fans &#38; report</textarea>"),
        "{body}"
    );
    assert!(body.contains(r#"<option value="cron" selected>"#));
    assert!(body.contains(r#"value="0 6 * * *""#));
    assert!(body.contains(r#"value="Europe/Berlin""#));
    assert!(body.contains(r#"<option value="skip" selected>"#));
    assert!(body.contains(r#"id="max_per_job" name="max_per_job" value="1""#));
    // The trailing-slash form answers too, and both pages link to the form.
    let slash = app.get(&format!("/webui/schedules/{id}/edit/")).await;
    assert_eq!(slash.status, StatusCode::OK);
    let link = format!(r#"href="/webui/schedules/{id}/edit">Edit</a>"#);
    for uri in [
        "/webui/schedules".to_string(),
        format!("/webui/schedules/{id}"),
    ] {
        assert!(app.get(&uri).await.text().contains(&link), "{uri}");
    }
}

#[tokio::test]
async fn an_edit_replaces_the_schedule_and_keeps_it_disabled() {
    let app = TestApp::new().await;
    let id = berlin_cron(&app, "Morning fans").await;
    post_form(&app, &format!("/webui/schedules/{id}/toggle"), &[]).await;
    let mut form = interval_form("Every half hour");
    set(&mut form, "interval_minutes", "30");
    set(&mut form, "max_per_job", "");
    let saved = submit_edit(&app, id, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert_eq!(location(&saved), format!("/webui/schedules/{id}"));
    assert_eq!(flash(&saved), "Schedule \"Every half hour\" saved.");
    let schedule = app.cb.get_schedule(id).await.unwrap();
    assert_eq!(schedule.name, "Every half hour");
    assert_eq!(schedule.schedule_type, ScheduleType::Interval);
    assert_eq!(schedule.interval_minutes, Some(30));
    assert_eq!(schedule.cron_expr, None);
    assert_eq!(schedule.timezone, "UTC");
    assert_eq!(schedule.custom_directive_text, None);
    assert_eq!(schedule.max_per_job, None);
    assert!(
        !schedule.enabled,
        "saving the form does not switch it back on"
    );
    assert_eq!(schedule_count(&app).await, 1);
}

#[tokio::test]
async fn a_bad_cron_on_edit_is_shown_beside_its_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let id = berlin_cron(&app, "Morning fans").await;
    let before = app.cb.get_schedule(id).await.unwrap();
    let mut form = interval_form("Renamed");
    set(&mut form, "schedule_type", "cron");
    set(&mut form, "cron_expr", "every tuesday");
    let rejected = submit_edit(&app, id, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert_html_page(&rejected);
    let body = rejected.text();
    assert!(body.contains("The schedule was not saved."), "{body}");
    let cron_field = body
        .split(r#"<label for="cron_expr">"#)
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .unwrap_or_default();
    assert!(
        cron_field.contains(r#"class="field-error""#),
        "the message sits beside the cron field: {cron_field}"
    );
    assert!(body.contains(r#"value="every tuesday""#), "input kept");
    assert!(body.contains(r#"value="Renamed""#), "input kept");
    assert!(body.contains(&format!(r#"action="/webui/schedules/{id}/edit""#)));
    let after = app.cb.get_schedule(id).await.unwrap();
    assert_eq!(after.name, before.name);
    assert_eq!(after.cron_expr, before.cron_expr);
    assert_eq!(after.updated_at, before.updated_at);
}

#[tokio::test]
async fn editing_an_unknown_schedule_is_not_found() {
    let app = TestApp::new().await;
    for uri in ["/webui/schedules/999/edit", "/webui/schedules/abc/edit"] {
        let missing = app.get(uri).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(missing.text().contains("There is no schedule"));
    }
    let missing = submit_edit(&app, 999, &interval_form("x")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(schedule_count(&app).await, 0);
}

#[tokio::test]
async fn the_edit_form_escapes_a_hostile_name() {
    let app = TestApp::new().await;
    let hostile = "<script>alert(1)</script>";
    let id = berlin_cron(&app, hostile).await;
    let body = app.get(&format!("/webui/schedules/{id}/edit")).await.text();
    assert!(!body.contains(hostile), "no live markup: {body}");
    assert!(body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    // And when a rejected edit echoes it back.
    let mut form = interval_form(hostile);
    set(&mut form, "interval_minutes", "0");
    let rejected = submit_edit(&app, id, &form).await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    assert!(!rejected.text().contains(hostile));
}
