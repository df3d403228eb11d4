#!/usr/bin/env escript
%% -*- erlang -*-
%% The strict syntax check of the MEGACO tests (cores/megaco/tests/erlang.rs): reads one
%% base64-encoded message a line from stdin and decodes it with Erlang/OTP megaco's text
%% decoders (pretty and compact; each reads the version from the message header, 1 to 3).
%% Prints one line a message: "ok" when both decoders accept it, else "error <reason>".
-mode(compile).

main(_) ->
    ok = megaco_ok(code:ensure_loaded(megaco_pretty_text_encoder)),
    loop().

megaco_ok({module, _}) -> ok;
megaco_ok(Other) -> io:format("error megaco not installed: ~p~n", [Other]), halt(2).

loop() ->
    case io:get_line("") of
        eof -> halt(0);
        Line ->
            Bin = base64:decode(string:trim(Line)),
            io:format("~s~n", [check(Bin)]),
            loop()
    end.

check(Bin) ->
    Results = [{Mod, catch Mod:decode_message([], Bin)}
               || Mod <- [megaco_pretty_text_encoder, megaco_compact_text_encoder]],
    case [{Mod, R} || {Mod, R} <- Results, element(1, R) =/= ok] of
        [] -> "ok";
        Errors -> lists:flatten(io_lib:format("error ~0p", [Errors]))
    end.
