package org.m4cxr;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Parameter;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.junit.Test;

/**
 * The task methods of {@link Session} agree with the task table of the LOADED library
 * ({@code m4cxr_task_table_json()}): for every task a method and a streaming method, one
 * overload per prefix of the optional arguments, each with and without trailing
 * {@link GenerationOptions}; parameters in table order, named in camelCase, of the Java type
 * of the argument type; optional ones marked with the table's default; and no task method
 * that the table does not have.
 */
public class TableTest {
  private static String camel(String name) {
    StringBuilder b = new StringBuilder();
    boolean up = false;
    for (char c : name.toCharArray()) {
      if (c == '_') {
        up = true;
        continue;
      }
      b.append(up ? Character.toUpperCase(c) : c);
      up = false;
    }
    return b.toString();
  }

  private static boolean isOptional(Object arg) {
    return ((Map<?, ?>) arg).containsKey("default");
  }

  private static boolean isList(Type t, Class<?> element) {
    if (!(t instanceof ParameterizedType)) return false;
    ParameterizedType p = (ParameterizedType) t;
    return p.getRawType() == List.class && p.getActualTypeArguments()[0] == element;
  }

  /** Whether a parameter of generic type {@code t} takes the table argument {@code arg}. */
  private static boolean takes(Type t, Object arg) {
    String type = (String) TestSupport.at(arg, "type");
    switch (type) {
      case "image": return t == Image.class;
      case "images": return isList(t, Image.class);
      case "text": return t == String.class;
      case "texts": return isList(t, String.class);
      case "boxes": return t == double[][].class;
      case "flag": return t == boolean.class;
      case "choice": {
        if (t == String.class) return true;
        if (!(t instanceof Class) || !((Class<?>) t).isEnum()) return false;
        List<String> constants = new ArrayList<>();
        for (Object c : ((Class<?>) t).getEnumConstants()) constants.add(((Enum<?>) c).name().toLowerCase(Locale.ROOT));
        return constants.equals(TestSupport.at(arg, "choices"));
      }
      default: throw new AssertionError("unknown argument type " + type);
    }
  }

  private static Method find(String name, List<?> args, boolean withOptions) {
    for (Method m : Session.class.getMethods()) {
      Type[] p = m.getGenericParameterTypes();
      if (!m.getName().equals(name) || p.length != args.size() + (withOptions ? 1 : 0)) continue;
      boolean ok = !withOptions || p[p.length - 1] == GenerationOptions.class;
      for (int i = 0; ok && i < args.size(); ++i) ok = takes(p[i], args.get(i));
      if (ok) return m;
    }
    return null;
  }

  /** The problems of one overload (empty when it agrees). */
  private static void check(Object task, List<?> given, boolean stream, boolean withOptions, List<String> problems) {
    String name = camel((String) TestSupport.at(task, "name")) + (stream ? "Stream" : "");
    List<String> want = new ArrayList<>();
    for (Object a : given) want.add(camel((String) TestSupport.at(a, "name")) + ":" + TestSupport.at(a, "type"));
    String sig = name + want + (withOptions ? "+options" : "");
    Method m = find(name, given, withOptions);
    if (m == null) {
      problems.add("no method " + sig);
      return;
    }
    if (m.getReturnType() != (stream ? TaskStream.class : Result.class)) problems.add(sig + " returns " + m.getReturnType());
    if (!Modifier.isPublic(m.getModifiers())) problems.add(sig + " is not public");
    Parameter[] ps = m.getParameters();
    for (int i = 0; i < given.size(); ++i) {
      Object arg = given.get(i);
      String argName = camel((String) TestSupport.at(arg, "name"));
      if (!ps[i].isNamePresent() || !ps[i].getName().equals(argName))
        problems.add(sig + ": parameter " + i + " is named " + ps[i].getName() + ", not " + argName);
      TaskDefault d = ps[i].getAnnotation(TaskDefault.class);
      boolean fullForm = withOptions && given.size() == ((List<?>) TestSupport.at(task, "args")).size();
      if (fullForm && isOptional(arg)) {
        Object def = TestSupport.at(arg, "default");
        if (d == null) problems.add(sig + ": optional " + argName + " has no @TaskDefault");
        else if (!java.util.Objects.equals(TestSupport.Json.parse(d.value()), def))
          problems.add(sig + ": " + argName + " defaults to " + d.value() + ", the table to " + def);
      } else if (fullForm && d != null) {
        problems.add(sig + ": required " + argName + " has a @TaskDefault");
      }
    }
    if (withOptions && !(ps[ps.length - 1].getName().equals("options")))
      problems.add(sig + ": last parameter is named " + ps[ps.length - 1].getName());
  }

  static List<String> problems(Object table) {
    List<String> problems = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (Object task : (List<?>) TestSupport.at(table, "tasks")) {
      String name = (String) TestSupport.at(task, "name");
      names.add(camel(name));
      names.add(camel(name) + "Stream");
      List<?> args = (List<?>) TestSupport.at(task, "args");
      int required = 0;
      while (required < args.size() && !isOptional(args.get(required))) ++required;
      for (int i = required; i < args.size(); ++i)
        if (!isOptional(args.get(i))) problems.add(name + ": a required argument after an optional one");
      for (int k = required; k <= args.size(); ++k)
        for (boolean stream : new boolean[] {false, true})
          for (boolean withOptions : new boolean[] {false, true}) check(task, args.subList(0, k), stream, withOptions, problems);
    }
    // nothing stale: every task method belongs to a task of the table
    for (Method m : SessionTasks.class.getDeclaredMethods())
      if (Modifier.isPublic(m.getModifiers()) && !names.contains(m.getName()))
        problems.add(m.getName() + " is not a task of the library's table");
    return problems;
  }

  @Test
  public void sessionMethodsAgreeWithTheLibrarysTaskTable() {
    Object table = TestSupport.Json.parse(Model.taskTableJson());
    List<?> tasks = (List<?>) TestSupport.at(table, "tasks");
    assertTrue(tasks.size() >= 13);
    assertEquals(List.of(), problems(table));
  }

  @Test
  public void theCheckFindsADisagreement() {
    // the same check against altered copies of the table must fail
    Object table = TestSupport.Json.parse(Model.taskTableJson());
    @SuppressWarnings("unchecked")
    List<Object> tasks = (List<Object>) TestSupport.at(table, "tasks");
    @SuppressWarnings("unchecked")
    Map<String, Object> organ = (Map<String, Object>) TestSupport.at(tasks.get(find(tasks, "ground_organ")), "args", 1);
    organ.put("default", "heart");
    assertTrue(problems(table).toString(), problems(table).toString().contains("organ defaults to \"lung\""));
    organ.put("default", "lung");
    @SuppressWarnings("unchecked")
    List<Object> vqaArgs = (List<Object>) TestSupport.at(tasks.get(find(tasks, "vqa")), "args");
    java.util.Collections.reverse(vqaArgs);
    assertTrue(problems(table).toString(), problems(table).toString().contains("no method vqa[question:text, image:image]"));
    java.util.Collections.reverse(vqaArgs);
    @SuppressWarnings("unchecked")
    Map<String, Object> extra = new java.util.LinkedHashMap<>((Map<String, Object>) tasks.get(0));
    extra.put("name", "brand_new_task");
    tasks.add(extra);
    assertTrue(problems(table).toString(), problems(table).contains("no method brandNewTask[images:images]"));
    tasks.remove(tasks.size() - 1);
    tasks.remove(find(tasks, "detect_abnormalities"));
    assertTrue(problems(table).toString(), problems(table).contains("detectAbnormalities is not a task of the library's table"));
  }

  private static int find(List<Object> tasks, String name) {
    for (int i = 0; i < tasks.size(); ++i)
      if (name.equals(TestSupport.at(tasks.get(i), "name"))) return i;
    throw new AssertionError(name);
  }
}
