// The client: one configured DPO participant.
using System;

namespace Eformidling
{
    /// <summary>A configured efm client. Dispose it (using) to release native resources.</summary>
    public sealed class Client : IDisposable
    {
        readonly ClientHandle handle;

        /// <summary>Create a client from a configuration document (JSON).</summary>
        public Client(string configJson)
        {
            Efm.EnsureLoaded();
            ErrorHandle error;
            uint rc = Native.efm_client_new(Utf8.Encode(configJson), out handle, out error);
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
            uint rc = Native.efm_client_lookup(handle, Utf8.Encode(organisationNumber), Utf8.Encode(process), out json, out error);
            Check.Result(rc, error);
            return Utf8.Take(json);
        }

        /// <summary>
        /// Send a message. <paramref name="requestJson"/> is {"receiver": "910076787", "documents":
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
            Native.ProgressCallback callback = Forward(progress);
            uint rc = Native.efm_client_send(handle, Utf8.Encode(requestJson), callback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(callback);
            Check.Result(rc, error);
            return Utf8.Take(json);
        }

        /// <summary>Send a failed message again from its stored package.</summary>
        public string Resend(string messageId, Action<ulong, ulong> progress = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Native.ProgressCallback callback = Forward(progress);
            uint rc = Native.efm_client_resend(handle, Utf8.Encode(messageId), callback, IntPtr.Zero, out json, out error);
            GC.KeepAlive(callback);
            Check.Result(rc, error);
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

        /// <summary>Decrypt, verify and unpack a peeked message into <paramref name="targetDir"/>; JSON with "files".</summary>
        public string Pop(string messageId, string targetDir)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_pop(handle, Utf8.Encode(messageId), Utf8.Encode(targetDir), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Remove a message from the incoming queue; LEVERT goes back to the sender.</summary>
        public string Delete(string messageId)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_delete(handle, Utf8.Encode(messageId), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>The status history of a message as JSON, oldest first.</summary>
        public string Status(string messageId)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_status(handle, Utf8.Encode(messageId), out json, out error), error);
            return Utf8.Take(json);
        }

        /// <summary>Messages matching a filter ({"direction", "conversation_id", "message_id", "status", "limit"}; null for all).</summary>
        public string Messages(string filterJson = null)
        {
            ThrowIfDisposed();
            IntPtr json;
            ErrorHandle error;
            Check.Result(Native.efm_client_messages(handle, Utf8.Encode(filterJson), out json, out error), error);
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

        static Native.ProgressCallback Forward(Action<ulong, ulong> progress)
        {
            if (progress == null) return null;
            return (userdata, done, total) =>
            {
                // Never let an exception unwind into native frames.
                try { progress(done, total); } catch (Exception) { }
            };
        }

        void ThrowIfDisposed()
        {
            if (handle.IsClosed) throw new ObjectDisposedException("Client");
        }

        public void Dispose() { handle.Dispose(); }
    }
}
