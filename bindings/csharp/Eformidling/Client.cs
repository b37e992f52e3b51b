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

        void ThrowIfDisposed()
        {
            if (handle.IsClosed) throw new ObjectDisposedException("Client");
        }

        public void Dispose() { handle.Dispose(); }
    }
}
