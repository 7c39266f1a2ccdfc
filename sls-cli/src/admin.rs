//! `sls groups create`, `update` and `delete`.

use serde_json::json;
use sls_client::ConsumerGroup;

use crate::cli::{CreateArgs, DeleteArgs, UpdateArgs};
use crate::conn::Target;
use crate::error::{CallContext, CliError};
use crate::timefmt::human;

/// What was done, as text or JSON.
fn done(
    action: &str,
    group: &str,
    timeout: Option<u32>,
    order: Option<bool>,
    json: bool,
) -> String {
    if json {
        let doc = json!({
            "group": group,
            "action": action,
            "timeout_seconds": timeout,
            "in_order": order,
        });
        return format!("{doc:#}\n");
    }
    let mut settings = Vec::new();
    if let Some(timeout) = timeout {
        settings.push(format!("timeout {}", human(i64::from(timeout))));
    }
    if let Some(order) = order {
        settings.push(if order { "in order" } else { "not in order" }.to_owned());
    }
    if settings.is_empty() {
        format!("{action} consumer group {group}\n")
    } else {
        format!(
            "{action} consumer group {group} ({})\n",
            settings.join(", ")
        )
    }
}

/// `sls groups create GROUP --timeout SECS [--in-order]`.
pub(crate) async fn create(
    target: &Target,
    args: &CreateArgs,
    json: bool,
) -> Result<String, CliError> {
    let group = ConsumerGroup::new(args.group.clone(), args.timeout, args.in_order);
    target
        .client
        .create_consumer_group(&target.project, &target.logstore, &group)
        .await
        .call("CreateConsumerGroup")?;
    Ok(done(
        "created",
        &args.group,
        Some(args.timeout),
        Some(args.in_order),
        json,
    ))
}

/// `sls groups update GROUP [--timeout SECS] [--in-order BOOL]`.
pub(crate) async fn update(
    target: &Target,
    args: &UpdateArgs,
    json: bool,
) -> Result<String, CliError> {
    target
        .client
        .update_consumer_group(
            &target.project,
            &target.logstore,
            &args.group,
            args.timeout,
            args.in_order,
        )
        .await
        .call("UpdateConsumerGroup")?;
    Ok(done(
        "updated",
        &args.group,
        args.timeout,
        args.in_order,
        json,
    ))
}

/// `sls groups delete GROUP --yes`.
pub(crate) async fn delete(
    target: &Target,
    args: &DeleteArgs,
    json: bool,
) -> Result<String, CliError> {
    if !args.yes {
        return Err(CliError::Usage(format!(
            "deleting consumer group {} also deletes its checkpoints; add --yes to do it",
            args.group
        )));
    }
    target
        .client
        .delete_consumer_group(&target.project, &target.logstore, &args.group)
        .await
        .call("DeleteConsumerGroup")?;
    Ok(done("deleted", &args.group, None, None, json))
}
