// A minimal JSON reader and writer for the requests and answers that cross the C ABI. netstandard2.0
// on Mono and .NET Framework has no System.Text.Json, and callers must never build JSON by hand
// (a Windows path like C:\Arkiv\vedtak.pdf is an "invalid escape" when pasted into a string).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Eformidling
{
    /// <summary>JSON text to plain objects: Dictionary&lt;string, object&gt;, List&lt;object&gt;, string, long,
    /// double, bool, or null.</summary>
    internal sealed class JsonReader
    {
        readonly string text;
        int pos;

        JsonReader(string text) { this.text = text; }

        internal static object Parse(string text)
        {
            var r = new JsonReader(text);
            object value = r.Value(0);
            r.SkipSpace();
            if (r.pos != text.Length) throw r.Fail("trailing characters");
            return value;
        }

        internal static Dictionary<string, object> ParseObject(string text)
        {
            var value = Parse(text) as Dictionary<string, object>;
            if (value == null) throw new FormatException("the library answered with JSON that is not an object");
            return value;
        }

        FormatException Fail(string what) { return new FormatException("invalid JSON from the library at " + pos + ": " + what); }

        void SkipSpace()
        {
            while (pos < text.Length && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) pos++;
        }

        object Value(int depth)
        {
            if (depth > 256) throw Fail("nested too deeply");
            SkipSpace();
            if (pos >= text.Length) throw Fail("unexpected end");
            char c = text[pos];
            switch (c)
            {
                case '{': return Object(depth);
                case '[': return Array(depth);
                case '"': return String();
                case 't': Literal("true"); return true;
                case 'f': Literal("false"); return false;
                case 'n': Literal("null"); return null;
                default: return Number();
            }
        }

        void Literal(string word)
        {
            if (string.CompareOrdinal(text, pos, word, 0, word.Length) != 0) throw Fail("expected " + word);
            pos += word.Length;
        }

        Dictionary<string, object> Object(int depth)
        {
            var result = new Dictionary<string, object>();
            pos++;
            SkipSpace();
            if (pos < text.Length && text[pos] == '}') { pos++; return result; }
            while (true)
            {
                SkipSpace();
                if (pos >= text.Length || text[pos] != '"') throw Fail("expected a member name");
                string key = String();
                SkipSpace();
                if (pos >= text.Length || text[pos] != ':') throw Fail("expected ':'");
                pos++;
                result[key] = Value(depth + 1);
                SkipSpace();
                if (pos < text.Length && text[pos] == ',') { pos++; continue; }
                if (pos < text.Length && text[pos] == '}') { pos++; return result; }
                throw Fail("expected ',' or '}'");
            }
        }

        List<object> Array(int depth)
        {
            var result = new List<object>();
            pos++;
            SkipSpace();
            if (pos < text.Length && text[pos] == ']') { pos++; return result; }
            while (true)
            {
                result.Add(Value(depth + 1));
                SkipSpace();
                if (pos < text.Length && text[pos] == ',') { pos++; continue; }
                if (pos < text.Length && text[pos] == ']') { pos++; return result; }
                throw Fail("expected ',' or ']'");
            }
        }

        string String()
        {
            var sb = new StringBuilder();
            pos++;
            while (pos < text.Length)
            {
                char c = text[pos++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                if (pos >= text.Length) break;
                char e = text[pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (pos + 4 > text.Length) throw Fail("short \\u escape");
                        sb.Append((char)int.Parse(text.Substring(pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += 4;
                        break;
                    default: throw Fail("invalid escape");
                }
            }
            throw Fail("unterminated string");
        }

        object Number()
        {
            int start = pos;
            while (pos < text.Length && "+-0123456789.eE".IndexOf(text[pos]) >= 0) pos++;
            string s = text.Substring(start, pos - start);
            if (s.Length == 0) throw Fail("unexpected character");
            long l;
            if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
            double d;
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
            throw Fail("bad number");
        }
    }

    /// <summary>Builds a JSON object member by member, escaping every string.</summary>
    internal sealed class JsonWriter
    {
        readonly StringBuilder sb = new StringBuilder("{");
        bool first = true;

        internal JsonWriter Member(string name, string value) { if (value != null) Key(name).Append(Quote(value)); return this; }
        internal JsonWriter Member(string name, long? value) { if (value.HasValue) Key(name).Append(value.Value.ToString(CultureInfo.InvariantCulture)); return this; }
        internal JsonWriter Raw(string name, string json) { if (json != null) Key(name).Append(json); return this; }

        StringBuilder Key(string name)
        {
            if (!first) sb.Append(',');
            first = false;
            return sb.Append(Quote(name)).Append(':');
        }

        public override string ToString() { return sb.ToString() + "}"; }

        internal static string Quote(string s)
        {
            var q = new StringBuilder(s.Length + 2).Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': q.Append("\\\""); break;
                    case '\\': q.Append("\\\\"); break;
                    case '\n': q.Append("\\n"); break;
                    case '\r': q.Append("\\r"); break;
                    case '\t': q.Append("\\t"); break;
                    default:
                        if (c < 0x20) q.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else q.Append(c);
                        break;
                }
            }
            return q.Append('"').ToString();
        }
    }
}
