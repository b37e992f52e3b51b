// The client: one configured DPO participant. Typed methods (Send(SendRequest), PollMessages, ...)
// take and return objects; the *Json-named and string methods keep the library's raw JSON.
using System;
using System.Collections.Generic;
using System.Threading;

namespace Eformidling
{
    /// <summary>A configured efm client. Dispose it (using) to release native resources.</summary>
    public sealed class Client : IDisposable
    {
        readonly ClientHandle handle;

        /// <summary>Create a client from a configuration document (JSON); with several
        /// organisations in it, the client acts for the first.</summary>
        public Client(string configJson) : this(configJson, null)
        {
        }

        /// <summary>
        /// Create a client acting for one of the organisations the configuration names (its
        /// top-level organisation_number or an entry of "organisations"; null: the first). It sees
        /// only that organisation's messages in the store they share. Throws ConfigException
        /// (field organisation_number) for one the configuration does not name.
        /// </summary>
        public Client(string configJson, string organisationNumber)
        {
            Efm.EnsureLoaded();
            ErrorHandle error;
            uint rc = Native.efm_client_new_for_organisation(Utf8.Encode(configJson, "config_json"), Utf8.Encode(organisationNumber, "organisation_number"), out handle, out error);
            Check.Result(rc, error);
        }

        /// <summary>The resolved configuration as JSON (no secrets).</summary>
        public string ConfigJson
        {
            get
            {
                ThrowIfDisposed();
                IntPtr json;
                ErrorHandle error;
                uint rc = Native.efm_client_config_json(handle, out json, out error);
                Check.Result(rc, error);
                return Utf8.Take(json);
            }
        }

        /// <summary>The resolved configuration: absolute paths, the environment's URLs, where secrets
        /// come from (never the secrets).</summary>
        public ConfigSummary Config { get { return ConfigSummary.Read(ConfigJson); } }

        /// <summary>
        /// An organisation's capabilities from the Service Registry, as JSON (signed answer, verified).
        /// <paramref name="process"/> may be null for all processes. Throws RemoteServiceException
        /// (503 receiver not found, 504 no DPO for the process), AuthException or NetworkException.
        /// </summary>
        public string Lookup(string organisationNumber, string process = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            uint rc = Native.efm_client_lookup(handle, Utf8.Encode(organisationNumber, "organisation_number"), Utf8.Encode(process, "process"), out json, out error);
            Check.Result(rc, error);
            return Utf8.Take(json);
        }

        /// <summary>
        /// Send a message. <paramref name="request_json"/> is {"receiver": "910076787", "documents":
        /// [{"name": "arkivmelding.xml", "path": "..."}], "process": ..., "conversation_id": ...}
        /// or {"sbd": {...}, "documents": [...]}. Returns the message as JSON (message_id, status).
        /// <paramref name="progress"/> (done, total bytes) is called during the upload.
        /// </summary>
        public string Send(string requestJson, Action<ulong, ulong> progress = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            // The delegate lives on this stack frame for the whole (synchronous) call.
            var bridge = Forward(progress);
            uint rc = Native.efm_client_send(handle, Utf8.Encode(requestJson, "request_json"), bridge.Callback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(bridge);
            bridge.Finish(rc, error, json);
            return Utf8.Take(json);
        }

        /// <summary>Send a failed message again from its stored package.</summary>
        public string Resend(string messageId, Action<ulong, ulong> progress = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            var bridge = Forward(progress);
            uint rc = Native.efm_client_resend(handle, Utf8.Encode(messageId, "message_id"), bridge.Callback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(bridge);
            bridge.Finish(rc, error, json);
            return Utf8.Take(json);
        }

        /// <summary>Fetch what waits at the broker; returns a summary as JSON ("received" ids, ...).</summary>
        public string Poll()
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_poll(handle, out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>The oldest incoming message (JSON, locked for us), or null when the queue is empty.</summary>
        public string Peek()
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_peek(handle, out json, out error), error);
            return json == IntPtr.Zero ? null : Utf8.Take(json);
        }

        /// <summary>Decrypt, verify and unpack a peeked message into <paramref name="target_dir"/>; JSON with "files".</summary>
        public string Pop(string messageId, string targetDir)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_pop(handle, Utf8.Encode(messageId, "message_id"), Utf8.Encode(targetDir, "target_dir"), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Remove a message from the incoming queue; LEVERT goes back to the sender.</summary>
        public string Delete(string messageId)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_delete(handle, Utf8.Encode(messageId, "message_id"), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>The status history of a message as JSON, oldest first.</summary>
        public string Status(string messageId)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_status(handle, Utf8.Encode(messageId, "message_id"), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Messages matching a filter ({"direction", "conversation_id", "message_id", "status", "limit"}; null for all).</summary>
        public string Messages(string filterJson = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_messages(handle, Utf8.Encode(filterJson, "filter_json"), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Mark outgoing messages past their deadline as LEVETID_UTLOPT; returns their ids as JSON.</summary>
        public string Expire()
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_expire(handle, out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>What was downloaded but could not be used, as JSON, oldest first: "id", "kind"
        /// (UNREADABLE, UNOPENABLE, IGNORED), "transfer_id", "message_id", "sender" (as the broker
        /// authenticated it), "reason", "code", "payload" (the kept package).</summary>
        public string Quarantine()
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_quarantine(handle, out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Copy a quarantined package, as downloaded, to <paramref name="destPath"/> (which must not exist).</summary>
        public void QuarantineExport(long id, string destPath)
        {
            ThrowIfDisposed();
            ErrorHandle error;
            Check.Result(Native.efm_client_quarantine_export(handle, id, Utf8.Encode(destPath), out error), error);
        }

        /// <summary>Try an entry again; returns the outcome as JSON ({"outcome": "received"|"requeued"|"applied"|"duplicate"|"still_refused", ...}).</summary>
        public string QuarantineRetry(long id)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_quarantine_retry(handle, id, out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Delete a quarantine entry and its kept package.</summary>
        public void QuarantineDelete(long id)
        {
            ThrowIfDisposed();
            ErrorHandle error;
            Check.Result(Native.efm_client_quarantine_delete(handle, id, out error), error);
        }

        /// <summary>Does what is due for sending (retries of pending messages, following uploaded
        /// transfers to Published or Failed, expiry, owed receipts); call it periodically
        /// (<see cref="Poll"/> does too). Returns a JSON summary.</summary>
        public string RunDue()
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_run_due(handle, out json, out error), error);
            return Utf8.Take(json);
        }

        static ProgressBridge Forward(Action<ulong, ulong> progress)
        {
            Action<uint, ulong, ulong> report = null;
            if (progress != null) report = (phase, done, total) => progress(done, total);
            return new ProgressBridge(report, CancellationToken.None);
        }

        /// <summary>
        /// The caller's progress and cancellation as a native callback. An exception from the caller's
        /// code never unwinds into native frames: it is kept, the call is cancelled, and it is thrown
        /// again (as InnerException of a CancelledException) when the call returns.
        /// </summary>
        sealed class ProgressBridge
        {
            // (phase, done, total); the phase is 0 from a callback without phases.
            readonly Action<uint, ulong, ulong> report;
            readonly CancellationToken token;
            internal Exception Thrown;
            // Both delegates live as long as the bridge, which the caller keeps alive for the call.
            internal readonly Native.ProgressCallback Callback;
            internal readonly Native.PhaseCallback PhaseCallback;

            internal ProgressBridge(Action<uint, ulong, ulong> report, CancellationToken token)
            {
                this.report = report;
                this.token = token;
                Callback = (userdata, done, total) => OnProgress(0, done, total);
                PhaseCallback = (userdata, phase, done, total) => OnProgress(phase, done, total);
            }

            bool OnProgress(uint phase, ulong done, ulong total)
            {
                if (Thrown != null || token.IsCancellationRequested) return false;
                try
                {
                    if (report != null) report(phase, done, total);
                    return !token.IsCancellationRequested;
                }
                catch (Exception e)
                {
                    Thrown = e;
                    return false;
                }
            }

            /// <summary>Throw what the call's outcome means, given how the callback ended.</summary>
            internal void Finish(uint rc, ErrorHandle error, IntPtr json)
            {
                if (Thrown != null)
                {
                    if (error != null) error.Dispose();
                    if (json != IntPtr.Zero) Native.efm_string_free(json); // sent after all; the exception wins
                    throw new CancelledException((uint)ResultCode.Cancelled,
                        "the progress callback threw " + Thrown.GetType().Name + ": " + Thrown.Message + "; the call was cancelled",
                        Thrown);
                }
                if (rc == (uint)ResultCode.Cancelled && token.IsCancellationRequested)
                {
                    EfmException inner = null;
                    try { Check.Result(rc, error); } catch (EfmException e) { inner = e; }
                    throw new OperationCanceledException("the efm call was cancelled; a send is kept as FEIL and can be resent", inner, token);
                }
                Check.Result(rc, error);
            }
        }

        static ProgressBridge Bridge(IProgress<TransferProgress> progress, CancellationToken token)
        {
            token.ThrowIfCancellationRequested();
            Action<uint, ulong, ulong> report = null;
            // A call without phases (a resend) only uploads.
            if (progress != null)
                report = (phase, done, total) => progress.Report(new TransferProgress(phase == 0 ? TransferPhase.Uploading : (TransferPhase)phase, done, total));
            return new ProgressBridge(report, token);
        }

        // ---- typed API ----

        /// <summary>
        /// Send a message. Reports progress to <paramref name="progress"/> by phase: Packing
        /// (document bytes), then Uploading (package bytes); when
        /// <paramref name="cancellationToken"/> is cancelled the send stops at its next block and
        /// OperationCanceledException is thrown: the message is kept as FEIL (cancelled while
        /// uploading, ResendMessage sends its package again; while packing, it has no package and is
        /// sent anew). An exception thrown by the progress handler cancels the call and comes back as the
        /// InnerException of a CancelledException.
        /// </summary>
        public MessageInfo Send(SendRequest request, IProgress<TransferProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException("request");
            ThrowIfDisposed();
            var bridge = Bridge(progress, cancellationToken);
            IntPtr json;
            ErrorHandle error;
            uint rc = Native.efm_client_send_by_phase(handle, Utf8.Encode(request.ToJson(), "request"), bridge.PhaseCallback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(bridge);
            bridge.Finish(rc, error, json);
            return MessageInfo.Read(Utf8.Take(json));
        }

        /// <summary>Send a failed message again from its stored package (progress and cancellation as for Send).</summary>
        public MessageInfo ResendMessage(string messageId, IProgress<TransferProgress> progress = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            ThrowIfDisposed();
            var bridge = Bridge(progress, cancellationToken);
            IntPtr json;
            ErrorHandle error;
            uint rc = Native.efm_client_resend(handle, Utf8.Encode(messageId, "message_id"), bridge.Callback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(bridge);
            bridge.Finish(rc, error, json);
            return MessageInfo.Read(Utf8.Take(json));
        }

        /// <summary>An organisation's capabilities from the Service Registry (signed answer, verified).</summary>
        public Capabilities LookupCapabilities(string organisationNumber, string process = null)
        {
            return Capabilities.Read(Lookup(organisationNumber, process));
        }

        /// <summary>Fetch what waits at the broker: new messages, statuses and receipts.</summary>
        public PollSummary PollMessages() { return PollSummary.Read(Poll()); }

        /// <summary>The oldest incoming message, locked for us, or null when the queue is empty.</summary>
        public IncomingMessage PeekMessage() { return IncomingMessage.Read(Peek()); }

        /// <summary>Decrypt, verify and unpack a peeked message into <paramref name="target_dir"/>.</summary>
        public OpenedMessage PopMessage(string messageId, string targetDir) { return OpenedMessage.Read(Pop(messageId, targetDir)); }

        /// <summary>Remove a message from the incoming queue; LEVERT goes back to the sender.</summary>
        public MessageInfo DeleteMessage(string messageId) { return MessageInfo.Read(Delete(messageId)); }

        /// <summary>The status history of a message, oldest first.</summary>
        public IList<StatusEntry> StatusHistory(string messageId) { return StatusEntry.ReadAll(Status(messageId)); }

        /// <summary>Messages matching <paramref name="filter"/> (null for all), newest first.</summary>
        public IList<MessageInfo> Messages(MessageFilter filter)
        {
            var list = new List<MessageInfo>();
            string json = Messages(filter == null ? null : filter.ToJson());
            foreach (var o in (List<object>)JsonReader.Parse(json))
            {
                var obj = Record.Obj(o);
                list.Add(new MessageInfo(obj, null));
            }
            return list;
        }

        /// <summary>Mark outgoing messages past their deadline as LEVETID_UTLOPT; returns their ids.</summary>
        public IList<string> ExpireMessages()
        {
            return ((List<object>)JsonReader.Parse(Expire())).ConvertAll(o => (string)o);
        }

        /// <summary>Does what is due for sending (see <see cref="RunDue"/>); what it did.</summary>
        public WorkSummary RunDueWork() { return WorkSummary.Read(RunDue()); }

        /// <summary>What was downloaded but could not be used, oldest first.</summary>
        public IList<QuarantineEntry> QuarantineEntries() { return QuarantineEntry.ReadAll(Quarantine()); }

        /// <summary>Try a quarantine entry again; what that achieved.</summary>
        public RetryOutcome RetryQuarantined(long id) { return RetryOutcome.Read(QuarantineRetry(id)); }

        void ThrowIfDisposed()
        {
            if (handle.IsClosed) throw new ObjectDisposedException("Client");
        }

        public void Dispose() { handle.Dispose(); }
    }
}
