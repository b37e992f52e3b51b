// Library-wide entry points: version, ABI check, configuration validation, logging.
using System;

namespace Eformidling
{
    /// <summary>Severity of a library log line.</summary>
    public enum LogLevel { Off = 0, Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 }

    /// <summary>A log line from the library.</summary>
    public sealed class LogEventArgs : EventArgs
    {
        public LogLevel Level { get; private set; }
        public string Message { get; private set; }
        internal LogEventArgs(LogLevel level, string message) { Level = level; Message = message; }
    }

    /// <summary>Library-wide functions. Touching any of them loads the native library and checks its ABI.</summary>
    public static class Efm
    {
        static readonly object Gate = new object();
        // Kept in a static field: native code holds this delegate's pointer for the life of the process.
        static readonly Native.LogCallback Forwarder = OnNativeLog;
        static EventHandler<LogEventArgs> log;
        static LogLevel level = LogLevel.Info;

        static Efm()
        {
            uint found = Native.efm_abi_version();
            if (found != Native.AbiVersion)
                throw new InternalException(900,
                    "libefm implements ABI " + found + " but this Eformidling assembly needs ABI " + Native.AbiVersion +
                    "; deploy matching versions of the assembly and the library", null, 0, null, false, "{}");
        }

        /// <summary>Make sure the native library is loaded and ABI-compatible (throws otherwise).</summary>
        public static void EnsureLoaded() { }

        /// <summary>The version of the loaded native library.</summary>
        public static string Version { get { return Utf8.Decode(Native.efm_version()); } }

        /// <summary>The ABI revision of the loaded native library.</summary>
        public static uint AbiVersion { get { return Native.efm_abi_version(); } }

        /// <summary>Validate a configuration (JSON); returns the resolved configuration as JSON (no secrets).</summary>
        public static string ValidateConfig(string configJson)
        {
            IntPtr summary;
            ErrorHandle error;
            uint rc = Native.efm_config_validate(Utf8.Encode(configJson), out summary, out error);
            Check.Result(rc, error);
            return Utf8.Take(summary);
        }

        /// <summary>Make the library panic behind its boundary: throws PanicException, the process survives.</summary>
        public static void DiagnosticPanic()
        {
            ErrorHandle error;
            uint rc = Native.efm_diagnostic_panic(out error);
            Check.Result(rc, error);
        }

        /// <summary>Library log lines. Raised on the thread that is inside the efm call.</summary>
        public static event EventHandler<LogEventArgs> Log
        {
            add { lock (Gate) { log += value; Install(); } }
            remove { lock (Gate) { log -= value; Install(); } }
        }

        /// <summary>The most verbose level passed to <see cref="Log"/> (default Info).</summary>
        public static LogLevel LogLevel
        {
            get { return level; }
            set { lock (Gate) { level = value; Install(); } }
        }

        static void Install()
        {
            if (log == null) Native.efm_set_logger(null, IntPtr.Zero, 0);
            else Native.efm_set_logger(Forwarder, IntPtr.Zero, (uint)level);
        }

        static void OnNativeLog(IntPtr userdata, uint lvl, IntPtr message, UIntPtr len)
        {
            // Never let an exception unwind into native frames.
            try
            {
                var handler = log;
                if (handler != null)
                    handler(null, new LogEventArgs((LogLevel)lvl, Utf8.Decode(message, (int)len.ToUInt64())));
            }
            catch (Exception)
            {
            }
        }
    }
}
