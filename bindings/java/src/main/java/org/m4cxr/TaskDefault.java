package org.m4cxr;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks an optional argument of a task method of {@link Session} and gives its default as
 * JSON text, as the task table declares it ({@code "lung"}, {@code false}, {@code []}). The
 * shorter overloads of the method leave the argument out; a null passed for it (reference
 * types) also means the default, which the library applies.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface TaskDefault {
  /** The table's default as JSON text. */
  String value();
}
