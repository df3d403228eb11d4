#!/usr/bin/env escript
%% -*- erlang -*-
%% A real Media Gateway for the MEGACO tests (cores/megaco/tests/erlang.rs), on Erlang/OTP's
%% megaco application with the text encoding over UDP.
%%
%%   mg.escript MGC_HOST MGC_PORT [pretty|compact] [VERSION] [LOCAL_PORT]
%%
%% Opens a UDP port (LOCAL_PORT, else any; printed as "port N"), registers with ServiceChange (Method = Restart) to
%% the MGC, prints "servicechange ok" or "servicechange error ...", then:
%% - answers Add, Modify, Subtract and AuditValue requests (printing "request <verb> <tid>");
%%   Add with termination $ makes rtp/N, context $ makes a new context id;
%% - an Add's Remote SDP is printed ("sdp remote <c= value> <m= value>"); the reply to an Add
%%   of $ carries the MG's Local SDP: its RTP socket on 127.0.0.1 (printed as "rtp port N");
%% - on "speak FILE" sends FILE (raw 8 kHz mu-law) as PCMU RTP, 20 ms a packet, from its RTP
%%   socket to the last Remote SDP's address, then prints "spoke N" (packets sent);
%%   on "rtpcount" prints "rtp received N" (RTP packets from the MGC so far);
%% - remembers the RequestID of the last Events descriptor per termination, and prints each
%%   signal asked for ("signal aaln/1 al/ri") after the request's line;
%% - on stdin lines "offhook aaln/1", "digits aaln/1 *7202", "onhook aaln/1" sends a Notify
%%   (al/of; dd/ce with ds and Meth; al/on) and prints "notify ok" or "notify error ...".
%% Requests are retransmitted every 300 ms until answered (or a TransactionPending came).
%% Ends on "quit" or end of input.
-mode(compile).
-export([handle_connect/3, handle_disconnect/4, handle_syntax_error/4, handle_message_error/4,
         handle_trans_request/4, handle_trans_long_request/4, handle_trans_reply/5,
         handle_trans_ack/5, handle_unexpected_trans/4, handle_trans_request_abort/5]).
-include_lib("megaco/include/megaco.hrl").
-include_lib("megaco/include/megaco_message_v1.hrl").

main([Host, Port | Rest]) ->
    {Encoder, Version, Local} = case Rest of
        [] -> {megaco_pretty_text_encoder, 1, 0};
        [E] -> {encoder(E), 1, 0};
        [E, V] -> {encoder(E), list_to_integer(V), 0};
        [E, V, L | _] -> {encoder(E), list_to_integer(V), list_to_integer(L)}
    end,
    {ok, MgcAddr} = inet:parse_address(Host),
    ok = megaco:start(),
    ets:new(mg_state, [named_table, public]),
    ets:insert(mg_state, {next_context, 1}),
    ets:insert(mg_state, {rtp_in, 0}),
    {ok, Rtp} = gen_udp:open(0, [binary, {ip, {127, 0, 0, 1}}, {active, false}]),
    {ok, RtpPort} = inet:port(Rtp),
    ets:insert(mg_state, {rtp, Rtp, RtpPort}),
    spawn(fun() -> count_rtp(Rtp) end),
    Mid = {deviceName, "ivm_test_mg"},
    ok = megaco:start_user(Mid, [{user_mod, ?MODULE}, {user_args, [self()]},
                                 {send_mod, megaco_udp}, {encoding_mod, Encoder},
                                 {encoding_config, []}, {protocol_version, Version},
                                 %% Retransmit quickly (every 300 ms) so the tests see the
                                 %% MGC's reply cache and TransactionPending at work.
                                 {request_timer, #megaco_incr_timer{wait_for = 300, factor = 1,
                                                                    max_retries = 30}}]),
    RH = megaco:user_info(Mid, receive_handle),
    {ok, Sup} = megaco_udp:start_transport(),
    {ok, Handle, ControlPid} = megaco_udp:open(Sup, [{port, Local}, {receive_handle, RH}]),
    {ok, LocalPort} = inet:port(megaco_udp:socket(Handle)),
    say("port ~p", [LocalPort]),
    SH = megaco_udp:create_send_handle(Handle, MgcAddr, list_to_integer(Port)),
    {ok, CH} = megaco:connect(RH, preliminary_mid, SH, ControlPid),
    SCP = #'ServiceChangeParm'{serviceChangeMethod = restart,
                               serviceChangeReason = [?megaco_cold_boot]},
    SCR = #'ServiceChangeRequest'{terminationID = [?megaco_root_termination_id],
                                  serviceChangeParms = SCP},
    report("servicechange", megaco:call(CH, [action(?megaco_null_context_id, {serviceChangeReq, SCR})], [])),
    loop(Mid).

encoder("compact") -> megaco_compact_text_encoder;
encoder(_) -> megaco_pretty_text_encoder.

say(Format, Args) ->
    io:format(Format ++ "~n", Args).

action(Cid, Command) ->
    #'ActionRequest'{contextId = Cid, commandRequests = [#'CommandRequest'{command = Command}]}.

report(What, {_Version, {ok, _Replies}}) -> say("~s ok", [What]);
report(What, {_Version, [{ok, _Replies, _}]}) -> say("~s ok", [What]);
report(What, Other) -> say("~s error ~0p", [What, Other]).

%% The connection handle changes when the MGC's reply names it (preliminary_mid to its mId):
%% look it up for every cue.
loop(Mid) ->
    CH = case megaco:user_info(Mid, connections) of
        [C | _] -> C;
        [] -> none
    end,
    case io:get_line("") of
        eof -> halt(0);
        Line ->
            case string:lexemes(string:trim(Line), " ") of
                ["quit"] -> halt(0);
                ["speak", File] -> speak(File);
                ["rtpcount"] -> say("rtp received ~p", [ets:lookup_element(mg_state, rtp_in, 2)]);
                ["offhook", T] -> notify(CH, T, "al/of", []);
                ["onhook", T] -> notify(CH, T, "al/on", []);
                ["digits", T, Ds] ->
                    notify(CH, T, "dd/ce", [#'EventParameter'{eventParameterName = "ds", value = [Ds]},
                                            #'EventParameter'{eventParameterName = "Meth", value = ["UM"]}]);
                Other -> say("unknown cue ~0p", [Other])
            end,
            loop(Mid)
    end.

tid(Text) -> #megaco_term_id{id = string:lexemes(Text, "/")}.

tid_text(#megaco_term_id{id = Parts}) -> lists:join("/", Parts);
tid_text(Other) -> io_lib:format("~0p", [Other]).

notify(CH, T, Event, Params) ->
    Rid = case ets:lookup(mg_state, {events, T}) of
        [{_, R}] -> R;
        [] -> 0
    end,
    OE = #'ObservedEvent'{eventName = Event, eventParList = Params,
                          timeNotation = #'TimeNotation'{date = "20261207", time = "06300000"}},
    NR = #'NotifyRequest'{terminationID = [tid(T)],
                          observedEventsDescriptor = #'ObservedEventsDescriptor'{requestId = Rid,
                                                                                 observedEventLst = [OE]}},
    report("notify", megaco:call(CH, [action(?megaco_null_context_id, {notifyReq, NR})], [])).

%% megaco_user callbacks (user_args = [Parent]).
handle_connect(_CH, _PV, _Parent) -> ok.
handle_disconnect(_CH, _PV, _Reason, _Parent) -> ok.
handle_syntax_error(_RH, _PV, ED, _Parent) -> say("syntax error ~0p", [ED]), reply.
handle_message_error(_CH, _PV, ED, _Parent) -> say("message error ~0p", [ED]), no_reply.
handle_trans_long_request(_CH, _PV, _Data, _Parent) -> {discard_ack, []}.
handle_trans_reply(_CH, _PV, _Reply, _Data, _Parent) -> ok.
handle_trans_ack(_CH, _PV, _Status, _Data, _Parent) -> ok.
handle_unexpected_trans(_CH, _PV, _Trans, _Parent) -> ok.
handle_trans_request_abort(_CH, _PV, _TransNo, _Pid, _Parent) -> ok.

handle_trans_request(_CH, _PV, ActionRequests, _Parent) ->
    {discard_ack, [action_reply(AR) || AR <- ActionRequests]}.

action_reply(#'ActionRequest'{contextId = Cid0, commandRequests = CRs}) ->
    Cid = case Cid0 of
        ?megaco_choose_context_id -> ets:update_counter(mg_state, next_context, 1);
        _ -> Cid0
    end,
    #'ActionReply'{contextId = Cid, commandReply = [command_reply(CR) || CR <- CRs]}.

command_reply(#'CommandRequest'{command = {Verb, Req}}) ->
    case {Verb, Req} of
        {addReq, #'AmmRequest'{terminationID = Tids, descriptors = Ds}} ->
            Made = [choose(T) || T <- Tids],
            seen("add", Made, Ds),
            remote_sdp(Ds),
            Audit = case [T || #megaco_term_id{contains_wildcards = true} = T <- Tids] of
                [] -> asn1_NOVALUE;
                _ -> [{mediaDescriptor, local_media()}]
            end,
            {addReply, #'AmmsReply'{terminationID = Made, terminationAudit = Audit}};
        {modReq, #'AmmRequest'{terminationID = Tids, descriptors = Ds}} ->
            seen("modify", Tids, Ds),
            {modReply, #'AmmsReply'{terminationID = Tids}};
        {subtractReq, #'SubtractRequest'{terminationID = Tids}} ->
            seen("subtract", Tids, []),
            {subtractReply, #'AmmsReply'{terminationID = Tids}};
        {auditValueRequest, #'AuditRequest'{terminationID = Tid}} ->
            seen("auditvalue", [Tid], []),
            {auditValueReply, {auditResult, #'AuditResult'{
                terminationID = Tid,
                terminationAuditResult = [{packagesDescriptor,
                                           [#'PackagesItem'{packageName = "al", packageVersion = 1}]}]}}};
        _ ->
            say("request unsupported ~0p", [Verb]),
            throw({discard_ack, [#'ErrorDescriptor'{errorCode = ?megaco_not_implemented,
                                                   errorText = "not in this test gateway"}]})
    end.

choose(#megaco_term_id{contains_wildcards = true}) ->
    N = ets:update_counter(mg_state, next_context, 1),
    #megaco_term_id{id = ["rtp", integer_to_list(N)]};
choose(T) -> T.

seen(Verb, Tids, Descriptors) ->
    [begin
         Text = lists:flatten(tid_text(T)),
         [ets:insert(mg_state, {{events, Text}, Rid})
          || {eventsDescriptor, #'EventsDescriptor'{requestID = Rid}} <- Descriptors, Rid =/= asn1_NOVALUE],
         say("request ~s ~s", [Verb, Text]),
         [say("signal ~s ~s", [Text, Name])
          || {signalsDescriptor, Sigs} <- Descriptors, is_list(Sigs),
             {signal, #'Signal'{signalName = Name}} <- Sigs]
     end || T <- Tids].

%% The Remote SDP of an Add: printed, and remembered as where "speak" sends.
remote_sdp(Ds) ->
    Props = [P || {mediaDescriptor, #'MediaDescriptor'{streams = Streams}} <- Ds,
                  #'StreamParms'{remoteDescriptor = #'LocalRemoteDescriptor'{propGrps = PGs}}
                      <- stream_parms(Streams),
                  PG <- PGs, P <- PG],
    C = [V || #'PropertyParm'{name = "c", value = [V | _]} <- Props],
    M = [V || #'PropertyParm'{name = "m", value = [V | _]} <- Props],
    case {C, M} of
        {[Cv | _], [Mv | _]} ->
            say("sdp remote ~s ~s", [Cv, Mv]),
            try
                [_, _, Ip] = string:lexemes(Cv, " "),
                [_, RPort | _] = string:lexemes(Mv, " "),
                {ok, Addr} = inet:parse_address(Ip),
                ets:insert(mg_state, {remote, Addr, list_to_integer(RPort)})
            catch _:_ -> say("sdp remote unusable", [])
            end;
        _ -> ok
    end.

stream_parms({oneStream, SP}) -> [SP];
stream_parms({multiStream, SDs}) -> [SP || #'StreamDescriptor'{streamParms = SP} <- SDs];
stream_parms(_) -> [].

local_media() ->
    [{rtp, _, Port}] = ets:lookup(mg_state, rtp),
    say("rtp port ~p", [Port]),
    Lines = [{"v", "0"}, {"o", "- 1 1 IN IP4 127.0.0.1"}, {"s", "-"},
             {"c", "IN IP4 127.0.0.1"}, {"t", "0 0"},
             {"m", "audio " ++ integer_to_list(Port) ++ " RTP/AVP 0"}],
    PG = [#'PropertyParm'{name = N, value = [V]} || {N, V} <- Lines],
    #'MediaDescriptor'{streams = {multiStream, [#'StreamDescriptor'{
        streamID = 1,
        streamParms = #'StreamParms'{localDescriptor = #'LocalRemoteDescriptor'{propGrps = [PG]}}}]}}.

count_rtp(Sock) ->
    case gen_udp:recv(Sock, 0) of
        {ok, {_, _, <<2:2, _/bitstring>>}} -> ets:update_counter(mg_state, rtp_in, 1);
        _ -> ok
    end,
    count_rtp(Sock).

speak(File) ->
    [{rtp, Sock, _}] = ets:lookup(mg_state, rtp),
    {ok, Audio} = file:read_file(File),
    case ets:lookup(mg_state, remote) of
        [{remote, Addr, Port}] ->
            Chunks = [binary:part(Audio, I * 160, 160) || I <- lists:seq(0, byte_size(Audio) div 160 - 1)],
            N = length(Chunks),
            T0 = erlang:monotonic_time(millisecond),
            lists:foldl(fun(Payload, I) ->
                 Wait = T0 + I * 20 - erlang:monotonic_time(millisecond),
                 if Wait > 0 -> timer:sleep(Wait); true -> ok end,
                 Marker = if I =:= 0 -> 1; true -> 0 end,
                 ok = gen_udp:send(Sock, Addr, Port, <<2:2, 0:1, 0:1, 0:4, Marker:1, 0:7, I:16,
                                                       (I * 160):32, 16#4d47:32, Payload/binary>>),
                 I + 1
             end, 0, Chunks),
            say("spoke ~p", [N]);
        [] -> say("speak error no remote sdp", [])
    end.
