//! Dispatching messages: updates (through `canister_inspect_message`),
//! queries, heartbeats and the global timer, each run as one execution of
//! an export of the live instance.

use super::instance::classify;
use super::{Canister, Execution, MessageEnv, Pending, SystemSnapshot};
use crate::CallError;
use crate::costs;
use crate::system_api::{Context, MessageState};

impl Canister {
    /// Calls update method `method` (or a query method, as a replicated
    /// query whose changes are discarded), as an ingress message.
    pub fn update(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, CallError> {
        Ok(self.update_pending(method, arg, env)?.commit())
    }

    /// Runs an update like [`Canister::update`] but leaves committing (or
    /// discarding) it to the caller.
    pub fn update_pending(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Pending<'_>, CallError> {
        if arg.len() > costs::MAX_INGRESS_BYTES {
            return Err(CallError::ArgumentTooLarge {
                size: arg.len(),
                limit: costs::MAX_INGRESS_BYTES,
            });
        }
        let update = format!("canister_update {method}");
        let query = format!("canister_query {method}");
        let (context, export) = if self.module.exports(&update) {
            (Context::Update, update)
        } else if self.module.exports(&query) {
            (Context::ReplicatedQuery, query)
        } else {
            return Err(CallError::MethodNotFound(method.to_owned()));
        };
        let ingress = self.ingress_fee(method, arg.len())?;
        if self.module.exports("canister_inspect_message") {
            self.inspect(method, arg, env)?;
        }
        let (execution, _, saved) =
            self.start(context, &export, method, arg, env, self.limits.update);
        Ok(Pending { canister: self, execution, context, saved, ingress })
    }

    /// Runs `canister_inspect_message`; the message proceeds only if it
    /// accepts. Inspection is free and changes nothing.
    fn inspect(&mut self, method: &str, arg: &[u8], env: &MessageEnv) -> Result<(), CallError> {
        let (execution, accepted) = self.run(
            Context::InspectMessage,
            "canister_inspect_message",
            method,
            arg,
            env,
            self.limits.inspect,
        );
        match execution.result {
            Ok(_) if accepted => Ok(()),
            Ok(_) => Err(CallError::Refused("the canister did not accept the message".to_owned())),
            Err(trap) => {
                Err(CallError::Refused(format!("canister_inspect_message trapped: {trap}")))
            }
        }
    }

    /// Calls query method `method`; whatever it changes is discarded.
    pub fn query(
        &mut self,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
    ) -> Result<Execution, CallError> {
        let query = format!("canister_query {method}");
        let composite = format!("canister_composite_query {method}");
        let (context, export) = if self.module.exports(&query) {
            (Context::Query, query)
        } else if self.module.exports(&composite) {
            (Context::CompositeQuery, composite)
        } else {
            return Err(CallError::MethodNotFound(method.to_owned()));
        };
        Ok(self.execute(context, &export, method, arg, env, self.limits.query))
    }

    /// Runs `canister_heartbeat`, if the canister has one.
    pub fn heartbeat(&mut self, env: &MessageEnv) -> Option<Execution> {
        if !self.module.exports("canister_heartbeat") {
            return None;
        }
        let mut execution = self.execute(
            Context::SystemTask,
            "canister_heartbeat",
            "",
            &[],
            env,
            self.limits.update,
        );
        self.charge(&mut execution, 0);
        Some(execution)
    }

    /// Runs `canister_global_timer` if the timer is set and due at `env.time`.
    /// The timer is deactivated first, as on the IC.
    pub fn global_timer(&mut self, env: &MessageEnv) -> Option<Execution> {
        let timer = self.store.data().system.global_timer;
        if timer == 0 || env.time < timer || !self.module.exports("canister_global_timer") {
            return None;
        }
        self.store.data_mut().system.global_timer = 0;
        let mut execution = self.execute(
            Context::SystemTask,
            "canister_global_timer",
            "",
            &[],
            env,
            self.limits.update,
        );
        self.charge(&mut execution, 0);
        Some(execution)
    }

    /// Runs `export` as one message and commits or discards its effects.
    pub(super) fn execute(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> Execution {
        self.run(context, export, method, arg, env, limit).0
    }

    /// [`Canister::execute`], also telling whether the message called
    /// `ic0.accept_message`.
    fn run(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> (Execution, bool) {
        let (execution, accepted, saved) = self.start(context, export, method, arg, env, limit);
        let keep = execution.result.is_ok() && context.keeps_changes();
        self.finish(context, keep, saved);
        (execution, accepted)
    }

    /// Runs `export`, leaving its effects in the live instance.
    fn start(
        &mut self,
        context: Context,
        export: &str,
        method: &str,
        arg: &[u8],
        env: &MessageEnv,
        limit: u64,
    ) -> (Execution, bool, SystemSnapshot) {
        let func = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, export)
            .expect("canister exports are () -> (), checked at install");
        let data = self.store.data_mut();
        data.message = MessageState {
            context: Some(context),
            arg: arg.to_vec(),
            caller: env.caller.clone(),
            method: method.to_owned(),
            time: env.time,
            instruction_limit: limit,
            ..MessageState::default()
        };
        data.system.stable.begin();
        let saved = SystemSnapshot::of(&data.system);
        self.store.set_fuel(limit).expect("fuel is enabled");

        let outcome = func.call(&mut self.store, ());
        let remaining = self.store.get_fuel().expect("fuel is enabled");
        let message = std::mem::take(&mut self.store.data_mut().message);
        let result = match outcome {
            Ok(()) => Ok(message.response),
            Err(error) => Err(classify(error, limit)),
        };
        let execution = Execution {
            result,
            instructions: limit - remaining,
            cycles: 0,
            stable_bytes_written: message.stable_bytes_written,
            debug_output: message.debug_output,
        };
        (execution, message.accepted, saved)
    }
}
