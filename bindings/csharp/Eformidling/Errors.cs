// Exceptions mirroring the efm_result groups (the hundreds digit of the code).
using System;

namespace Eformidling
{
    /// <summary>An error from the efm library.</summary>
    public class EfmException : Exception
    {
        /// <summary>The stable efm_result code.</summary>
        public uint Code { get; private set; }
        /// <summary>The input field or configuration key at fault, or null.</summary>
        public string Field { get; private set; }
        /// <summary>The HTTP status of the remote answer, or 0.</summary>
        public int HttpStatus { get; private set; }
        /// <summary>The remote service's own error code, or null.</summary>
        public string RemoteCode { get; private set; }
        /// <summary>Whether trying again later may succeed.</summary>
        public bool Retryable { get; private set; }
        /// <summary>All structured detail as JSON.</summary>
        public string DetailJson { get; private set; }

        public EfmException(uint code, string message, string field = null, int httpStatus = 0,
            string remoteCode = null, bool retryable = false, string detailJson = "{}")
            : base(message)
        {
            Code = code;
            Field = field;
            HttpStatus = httpStatus;
            RemoteCode = remoteCode;
            Retryable = retryable;
            DetailJson = detailJson;
        }
    }

    /// <summary>1xx: an argument was unusable.</summary>
    public class InvalidInputException : EfmException { public InvalidInputException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>2xx: the configuration is wrong or incomplete.</summary>
    public class ConfigException : EfmException { public ConfigException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>3xx: Maskinporten or Altinn refused us.</summary>
    public class AuthException : EfmException { public AuthException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>4xx: the network failed.</summary>
    public class NetworkException : EfmException { public NetworkException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>5xx: a remote service answered with an error.</summary>
    public class RemoteServiceException : EfmException { public RemoteServiceException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>6xx: keys, certificates, signatures or encryption.</summary>
    public class CryptoException : EfmException { public CryptoException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>7xx: a malformed or unsafe package.</summary>
    public class PackageException : EfmException { public PackageException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>8xx: the local data directory.</summary>
    public class StorageException : EfmException { public StorageException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>9xx: a bug in efm.</summary>
    public class InternalException : EfmException { public InternalException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }
    /// <summary>901: efm panicked; the panic was caught and this process is unaffected.</summary>
    public class PanicException : InternalException { public PanicException(uint c, string m, string f, int h, string r, bool t, string d) : base(c, m, f, h, r, t, d) { } }

    internal static class Check
    {
        internal const uint Panic = 901;

        /// <summary>Throw for a non-zero result, consuming the error object.</summary>
        internal static void Result(uint code, ErrorHandle error)
        {
            if (code == 0)
            {
                if (error != null) error.Dispose();
                return;
            }
            using (error)
            {
                string message, field = null, remote = null, detail = "{}";
                int http = 0;
                bool retry = false;
                if (error != null && !error.IsInvalid)
                {
                    message = Utf8.Decode(Native.efm_error_message(error));
                    field = Utf8.Decode(Native.efm_error_field(error));
                    remote = Utf8.Decode(Native.efm_error_remote_code(error));
                    detail = Utf8.Decode(Native.efm_error_detail_json(error));
                    http = Native.efm_error_http_status(error);
                    retry = Native.efm_error_retryable(error);
                }
                else
                {
                    message = "efm call failed with code " + code + " (" + Utf8.Decode(Native.efm_result_group(code)) + ")";
                }
                throw Create(code, message, field, http, remote, retry, detail);
            }
        }

        internal static EfmException Create(uint c, string m, string f, int h, string r, bool t, string d)
        {
            if (c == Panic) return new PanicException(c, m, f, h, r, t, d);
            switch (c / 100)
            {
                case 1: return new InvalidInputException(c, m, f, h, r, t, d);
                case 2: return new ConfigException(c, m, f, h, r, t, d);
                case 3: return new AuthException(c, m, f, h, r, t, d);
                case 4: return new NetworkException(c, m, f, h, r, t, d);
                case 5: return new RemoteServiceException(c, m, f, h, r, t, d);
                case 6: return new CryptoException(c, m, f, h, r, t, d);
                case 7: return new PackageException(c, m, f, h, r, t, d);
                case 8: return new StorageException(c, m, f, h, r, t, d);
                default: return new InternalException(c, m, f, h, r, t, d);
            }
        }
    }
}
