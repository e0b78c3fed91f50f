using System.Globalization;
using System.Text;

namespace Loom.ChatTemplates.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it: Python's <c>json.dumps(x, ensure_ascii=False, indent=indent,
/// separators=separators, sort_keys=sort_keys)</c>. Default separators are ", " and ": " (or "," and ": " with an indent).
/// </summary>
internal static class JsonText
{
    private const int MaxDepth = 128;

    public static string Serialize(object? value, string? indent, string? itemSeparator, string? keySeparator, bool sortKeys, bool ensureAscii = false)
    {
        var writer = new Writer(indent, itemSeparator ?? (indent == null ? ", " : ","), keySeparator ?? ": ", sortKeys, ensureAscii);
        writer.Write(value, 0);
        return writer.ToString();
    }

    private sealed class Writer(string? indent, string itemSeparator, string keySeparator, bool sortKeys, bool ensureAscii)
    {
        private readonly StringBuilder _sb = new();

        public override string ToString() => _sb.ToString();

        public void Write(object? value, int depth)
        {
            if (depth > MaxDepth) throw new JinjaError("tojson: value nests too deeply");
            switch (value)
            {
                case null: _sb.Append("null"); break;
                case bool b: _sb.Append(b ? "true" : "false"); break;
                case long l: _sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: _sb.Append(FormatNumber(d)); break;
                case string s: WriteString(s); break;
                case IList<object?> list: WriteList(list, depth); break;
                case PyDict dict: WriteDict(dict, depth); break;
                case Namespace ns:
                    throw new JinjaError("Object of type Namespace is not JSON serializable");
                case Undefined u:
                    throw new JinjaError($"Object of type Undefined is not JSON serializable ({u.Description})");
                default:
                    throw new JinjaError($"Object of type {Py.TypeName(value)} is not JSON serializable");
            }
        }

        private static string FormatNumber(double d) =>
            double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : Py.FormatFloat(d);

        private void WriteList(IList<object?> list, int depth)
        {
            if (list.Count == 0) { _sb.Append("[]"); return; }
            _sb.Append('[');
            for (int i = 0; i < list.Count; i++)
            {
                if (i > 0) _sb.Append(itemSeparator);
                NewLine(depth + 1);
                Write(list[i], depth + 1);
            }
            NewLine(depth);
            _sb.Append(']');
        }

        private void WriteDict(PyDict dict, int depth)
        {
            if (dict.Count == 0) { _sb.Append("{}"); return; }
            IEnumerable<KeyValuePair<object, object?>> pairs = dict;
            if (sortKeys) pairs = pairs.OrderBy(p => KeyText(p.Key), StringComparer.Ordinal);
            _sb.Append('{');
            bool first = true;
            foreach (var (key, item) in pairs)
            {
                if (!first) _sb.Append(itemSeparator);
                first = false;
                NewLine(depth + 1);
                WriteString(KeyText(key));
                _sb.Append(keySeparator);
                Write(item, depth + 1);
            }
            NewLine(depth);
            _sb.Append('}');
        }

        /// <summary>json.dumps turns non-string keys into strings: True -> "true", 1 -> "1", None -> "null".</summary>
        private static string KeyText(object key) => key switch
        {
            string s => s,
            bool b => b ? "true" : "false",
            long l => l.ToString(CultureInfo.InvariantCulture),
            double d => FormatNumber(d),
            _ => throw new JinjaError($"keys must be str, int, float, bool or None, not {Py.TypeName(key)}"),
        };

        private void NewLine(int depth)
        {
            if (indent == null) return;
            _sb.Append('\n');
            for (int i = 0; i < depth; i++) _sb.Append(indent);
        }

        private void WriteString(string s)
        {
            _sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': _sb.Append("\\\""); break;
                    case '\\': _sb.Append("\\\\"); break;
                    case '\n': _sb.Append("\\n"); break;
                    case '\r': _sb.Append("\\r"); break;
                    case '\t': _sb.Append("\\t"); break;
                    case '\b': _sb.Append("\\b"); break;
                    case '\f': _sb.Append("\\f"); break;
                    default:
                        // ensure_ascii escapes every non-ASCII UTF-16 unit (surrogate pairs as two escapes, as Python does).
                        if (c < 0x20 || (ensureAscii && c > 0x7e)) _sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else _sb.Append(c);
                        break;
                }
            }
            _sb.Append('"');
        }
    }
}
