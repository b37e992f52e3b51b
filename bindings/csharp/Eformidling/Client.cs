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

        void ThrowIfDisposed()
        {
            if (handle.IsClosed) throw new ObjectDisposedException("Client");
        }

        public void Dispose() { handle.Dispose(); }
    }
}
