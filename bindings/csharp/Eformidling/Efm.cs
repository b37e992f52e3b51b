// Library-wide entry points: version, ABI check, configuration validation, logging.
using System;
using System.Runtime.InteropServices;

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

        static volatile bool loaded;
        static string loadedFrom;

        /// <summary>
        /// Load the native library from <paramref name="path"/> (libefm.so, libefm.dylib or efm.dll)
        /// instead of searching the native library path. Call it before anything else; a second
        /// call with another path throws InvalidOperationException.
        /// </summary>
        public static void Load(string path)
        {
            if (path == null) throw new ArgumentNullException("path");
            string full = System.IO.Path.GetFullPath(path);
            lock (Gate)
            {
                if (loadedFrom != null && loadedFrom != full)
                    throw new InvalidOperationException("the efm library was already loaded from " + loadedFrom);
                if (!System.IO.File.Exists(full))
                    throw new LibraryLoadException("the efm native library " + full + " does not exist");
                Preload.Open(full);
                loadedFrom = full;
            }
            EnsureLoaded();
        }

        /// <summary>
        /// Make sure the native library is loaded and ABI-compatible. Throws LibraryLoadException
        /// (not TypeInitializationException) when it is missing or does not match, and may be called
        /// again once that is fixed.
        /// </summary>
        public static void EnsureLoaded()
        {
            if (loaded) return;
            uint found;
            try
            {
                found = Native.efm_abi_version();
            }
            catch (DllNotFoundException e)
            {
                throw new LibraryLoadException(
                    "the efm native library (libefm.so, libefm.dylib or efm.dll) was not found: put it beside the " +
                    "application or on the native library path (LD_LIBRARY_PATH, PATH), or call Efm.Load(path)", e);
            }
            catch (EntryPointNotFoundException e)
            {
                throw new LibraryLoadException("the library loaded as efm is not libefm (no efm_abi_version)", e);
            }
            if (found != Native.AbiVersion)
                throw new LibraryLoadException(
                    "libefm " + Utf8.Decode(Native.efm_version()) + " implements ABI " + found +
                    " but this Eformidling assembly needs ABI " + Native.AbiVersion +
                    "; deploy matching versions of the assembly and the library");
            loaded = true;
        }

        /// <summary>The version of the loaded native library.</summary>
        public static string Version { get { EnsureLoaded(); return Utf8.Decode(Native.efm_version()); } }

        /// <summary>The ABI revision of the loaded native library.</summary>
        public static uint AbiVersion { get { EnsureLoaded(); return Native.efm_abi_version(); } }

        /// <summary>Validate a configuration (JSON); returns the resolved configuration as JSON (no secrets).</summary>
        public static string ValidateConfig(string configJson)
        {
            EnsureLoaded();
            IntPtr summary;
            ErrorHandle error;
            uint rc = Native.efm_config_validate(Utf8.Encode(configJson, "config_json"), out summary, out error);
            Check.Result(rc, error);
            return Utf8.Take(summary);
        }

        /// <summary>Validate a configuration (JSON) and resolve it: absolute paths, the environment's
        /// URLs, where secrets come from (never the secrets). Throws ConfigException or
        /// InvalidInputException naming the member at fault.</summary>
        public static ConfigSummary ResolveConfig(string configJson) { return ConfigSummary.Read(ValidateConfig(configJson)); }

        /// <summary>Make the library panic behind its boundary: throws PanicException, the process survives.</summary>
        public static void DiagnosticPanic()
        {
            EnsureLoaded();
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
            EnsureLoaded();
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

    /// <summary>Opens a native library by path, so a later DllImport("efm") finds it loaded. The
    /// Linux library's SONAME is libefm.so (build.rs), which is what the runtime then asks for.</summary>
    internal static class Preload
    {
        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        static extern IntPtr LoadLibraryW(string path);

        [DllImport("libdl.so.2", EntryPoint = "dlopen")]
        static extern IntPtr dlopen2(string path, int flags);

        [DllImport("libc", EntryPoint = "dlopen")]
        static extern IntPtr dlopenC(string path, int flags);

        [DllImport("libdl.so.2", EntryPoint = "dlerror")]
        static extern IntPtr dlerror();

        const int RtldNow = 2, RtldGlobal = 0x100;

        internal static void Open(string path)
        {
            IntPtr handle;
            string why = null;
            if (Environment.OSVersion.Platform == PlatformID.Win32NT)
            {
                handle = LoadLibraryW(path);
                if (handle == IntPtr.Zero) why = "error " + Marshal.GetLastWin32Error();
            }
            else
            {
                try { handle = dlopen2(path, RtldNow | RtldGlobal); }
                catch (DllNotFoundException) { handle = dlopenC(path, RtldNow | RtldGlobal); }
                if (handle == IntPtr.Zero)
                {
                    try { why = Marshal.PtrToStringAnsi(dlerror()); } catch (DllNotFoundException) { why = "dlopen failed"; }
                }
            }
            if (handle == IntPtr.Zero) throw new LibraryLoadException("cannot load the efm native library " + path + ": " + why);
        }
    }
}
