using System;
using System.Collections.Generic;
using System.Text;
using M4cxr.Native;

namespace M4cxr
{
    /// <summary>
    /// The arguments of one task call, collected by name (m4cxr_task_args) for
    /// m4cxr_task_start. Used by the generated task methods (Session.Tasks.cs) and
    /// <see cref="Session.StartTask"/>; the conversions of C# values live here.
    /// </summary>
    /// <remarks>
    /// A null value of an optional argument is left out (the library applies the table's
    /// default); a null required value throws ArgumentNullException naming the C#
    /// parameter. Everything else (counts, choices, markers in texts, degenerate boxes) is
    /// checked by the library, whose message comes back as an M4cxrException.
    /// </remarks>
    internal sealed class TaskArgs : IDisposable
    {
        internal readonly TaskArgsHandle Handle;

        public TaskArgs()
        {
            IntPtr raw;
            M4cxrException.Check(Api.m4cxr_task_args_create(out raw));
            Handle = new TaskArgsHandle(raw);
        }

        public void Dispose() { Handle.Dispose(); }

        private static bool Missing(object value, string param, bool optional)
        {
            if (value != null) return false;
            if (optional) return true;
            throw new ArgumentNullException(param);
        }

        public void Image(string name, Image value, string param, bool optional)
        {
            if (Missing(value, param, optional)) return;
            M4cxrException.Check(Api.m4cxr_task_args_add_image(Handle, name, value.Handle));
        }

        public void Images(string name, IList<Image> values, string param, bool optional)
        {
            if (Missing(values, param, optional)) return;
            for (int i = 0; i < values.Count; ++i)
            {
                if (values[i] == null) throw new ArgumentNullException(param + "[" + i + "]");
                M4cxrException.Check(Api.m4cxr_task_args_add_image(Handle, name, values[i].Handle));
            }
        }

        public void Text(string name, string value, string param, bool optional)
        {
            if (Missing(value, param, optional)) return;
            CheckNul(value, param);
            M4cxrException.Check(Api.m4cxr_task_args_add_text(Handle, name, value));
        }

        public void Texts(string name, IList<string> values, string param, bool optional)
        {
            if (Missing(values, param, optional)) return;
            for (int i = 0; i < values.Count; ++i)
            {
                if (values[i] == null) throw new ArgumentNullException(param + "[" + i + "]");
                CheckNul(values[i], param + "[" + i + "]");
                M4cxrException.Check(Api.m4cxr_task_args_add_text(Handle, name, values[i]));
            }
        }

        /// <summary>x1, y1, x2, y2 in original pixels for each box (4 values per box).</summary>
        public void Boxes(string name, double[] values, string param, bool optional)
        {
            if (Missing(values, param, optional)) return;
            if (values.Length % 4 != 0) throw new ArgumentException("boxes holds 4 values (x1, y1, x2, y2) per box", param);
            var box = new double[4];
            for (int i = 0; i < values.Length; i += 4)
            {
                Array.Copy(values, i, box, 0, 4);
                M4cxrException.Check(Api.m4cxr_task_args_add_box(Handle, name, box));
            }
        }

        public void Choice(string name, string value, string param, bool optional)
        {
            Text(name, value, param, optional);
        }

        /// <summary>A choice given as a C# enum (e.g. <see cref="BoxQuestion"/>): its member
        /// name in snake_case is the choice ("Finding" is "finding").</summary>
        public void Choice(string name, Enum value, string param, bool optional)
        {
            if (Missing(value, param, optional)) return;
            if (!Enum.IsDefined(value.GetType(), value))
                throw new ArgumentOutOfRangeException(param, value, "not a member of " + value.GetType().Name);
            Text(name, ChoiceName(value), param, false);
        }

        public void Flag(string name, bool value)
        {
            M4cxrException.Check(Api.m4cxr_task_args_set_flag(Handle, name, value ? 1 : 0));
        }

        /// <summary>A value of any supported type (<see cref="Session.StartTask"/>).</summary>
        public void Any(string name, object value)
        {
            if (name == null) throw new ArgumentNullException("arguments", "an argument name is null");
            if (value == null) return;
            if (value is Image) Image(name, (Image)value, name, false);
            else if (value is IList<Image>) Images(name, (IList<Image>)value, name, false);
            else if (value is string) Text(name, (string)value, name, false);
            else if (value is IList<string>) Texts(name, (IList<string>)value, name, false);
            else if (value is double[]) Boxes(name, (double[])value, name, false);
            else if (value is bool) Flag(name, (bool)value);
            else if (value is Enum) Choice(name, (Enum)value, name, false);
            else throw new ArgumentException("unsupported value type " + value.GetType().Name, name);
        }

        /// <summary>PascalCase member name to the table's snake_case choice.</summary>
        internal static string ChoiceName(Enum value)
        {
            string s = value.ToString();
            var b = new StringBuilder();
            for (int i = 0; i < s.Length; ++i)
            {
                if (char.IsUpper(s[i]) && i > 0) b.Append('_');
                b.Append(char.ToLowerInvariant(s[i]));
            }
            return b.ToString();
        }

        private static void CheckNul(string s, string param)
        {
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("contains a NUL character", param);
        }
    }
}
